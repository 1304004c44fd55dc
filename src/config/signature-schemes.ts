/** The signature schemes of docs/protocol.md §3 (which header, and which bytes are signed). */
export const SIGNATURE_SCHEMES = ['raw', 'ts_raw', 'ts_data', 'json'] as const;
export type SignatureScheme = (typeof SIGNATURE_SCHEMES)[number];
