/** The STB simulator: a TR-069/TR-111 CPE (STUN keepalives, UDP and HTTP connection requests, CWMP). */
export { Simulator } from './simulator.js';
export { SimDevice, type CertificateState } from './sim-device.js';
export { CertClient, type CertFetchResult, type PresentedCertificate } from './cert-client.js';
export { type SimulatorOptions, type ResolvedOptions, SimOptionError, DEFAULTS, parseHostPort, parseCredentials } from './options.js';
export { type SimEventMap, type SimStats, totalRejected } from './sim-events.js';
export { credentialsOf, deviceIdOf, deviceIds, simDeviceCsv, DEVICE_CSV_HEADER, type SimCredentials, type DeviceRange } from './credentials.js';
export { waitFor, WaitTimeout } from './wait-for.js';
export { ParamTree } from './param-tree.js';
export { CpeSoap } from './cpe-soap.js';
export { CwmpFault } from './cwmp-fault.js';
export { firmwareImage, firmwareVersionOf } from './firmware-image.js';
