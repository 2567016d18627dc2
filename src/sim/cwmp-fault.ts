/** CWMP fault codes the simulator sends (TR-069 Table 59). */
export const FaultCode = {
  MethodNotSupported: 9000,
  InternalError: 9002,
  InvalidArguments: 9003,
  InvalidParameterName: 9005,
  InvalidParameterValue: 9007,
  NonWritableParameter: 9008,
  NotificationRejected: 9009,
  DownloadFailure: 9010,
  UploadFailure: 9011,
  UnsupportedProtocol: 9013,
} as const;

const MESSAGES: Record<number, string> = {
  9000: 'Method not supported',
  9002: 'Internal error',
  9003: 'Invalid arguments',
  9005: 'Invalid parameter name',
  9007: 'Invalid parameter value',
  9008: 'Attempt to set a non-writable parameter',
  9009: 'Notification request rejected',
  9010: 'Download failure',
  9011: 'Upload failure',
  9013: 'Unsupported protocol for file transfer',
};

export const faultMessage = (code: number): string => MESSAGES[code] ?? 'Fault';

/** One entry of a SetParameterValues fault's SetParameterValuesFault list. */
export interface ParameterFault {
  readonly name: string;
  readonly code: number;
  readonly message: string;
}

/** A CWMP fault an RPC answers with instead of its response. */
export class CwmpFault extends Error {
  override name = 'CwmpFault';
  constructor(
    readonly code: number,
    message: string = faultMessage(code),
    readonly parameterFaults: readonly ParameterFault[] = [],
  ) {
    super(message);
  }
}
