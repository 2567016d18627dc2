import type { CwmpVersion } from './cwmp-soap.js';

/**
 * The fixed SOAP envelopes stbd sends most (InformResponse, the empty acknowledgements) as string templates:
 * byte for byte what the generic XML builder writes for them, without building an object tree per session.
 * Pure; the only variable parts are the CWMP version (one of a fixed set) and the escaped cwmp:ID.
 */
const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const HAS_SPECIAL = /[&<>"']/;
const SPECIALS = /[&<>"']/g;

/** Text content escaped as the builder escapes it (all five predefined entities). */
export const escapeXmlText = (s: string): string => (HAS_SPECIAL.test(s) ? s.replace(SPECIALS, (c) => XML_ESCAPES[c]!) : s);

const head = (version: CwmpVersion): string =>
  '<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"' +
  ' xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"' +
  ` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-${version}">`;

/** A whole envelope around `body` (already XML), with the cwmp:ID header when the request had one. */
export const envelopeAround = (version: CwmpVersion, id: string | undefined, body: string): string =>
  head(version) +
  (id === undefined ? '' : `<soap:Header><cwmp:ID soap:mustUnderstand="1">${escapeXmlText(id)}</cwmp:ID></soap:Header>`) +
  `<soap:Body>${body}</soap:Body></soap:Envelope>`;

export const INFORM_RESPONSE_BODY = '<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>';

/** The body of an empty `cwmp:NAMEResponse` acknowledgement. */
export const emptyResponseBody = (method: string): string => `<cwmp:${method}Response></cwmp:${method}Response>`;

/** The body of a GetParameterValues or GetParameterAttributes: a SOAP string array of parameter names. */
export const parameterNamesBody = (method: 'GetParameterValues' | 'GetParameterAttributes', names: readonly string[]): string => {
  let strings = '';
  for (const name of names) strings += `<string>${escapeXmlText(name)}</string>`;
  return `<cwmp:${method}><ParameterNames soapenc:arrayType="xsd:string[${names.length}]">${strings}</ParameterNames></cwmp:${method}>`;
};
