// WebSocket close codes used by this plugin (RFC 6455 section 7.4.1), named once.
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013
} as const

// eslint-disable-next-line @typescript-eslint/no-redeclare -- the public API pairs the CloseCode object with the union of its values under one name
export type CloseCode = typeof CloseCode[keyof typeof CloseCode]
