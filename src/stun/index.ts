/** The STUN codec: bytes ⇄ messages, integrity, fingerprint. Pure: no I/O, no clock. */
export * from './address.js';
export * from './attributes.js';
export * from './constants.js';
export * from './decode.js';
export * from './encode.js';
export * from './hmac-sha1.js';
export * from './integrity.js';
