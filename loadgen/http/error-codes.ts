// k6's error codes (lib/netext/httpext/error_codes.go), the `error_code` a response carries. One
// list for both transports (HTTP/1.1 in connection.ts, HTTP/2 in h2.ts): the same failure gets the
// same code whichever protocol the server picked. For the HTTP/2 families, the specific HTTP/2
// error code is added to the GOAWAY, stream and connection bases (h2.ts's familyCode).
export const ERR_GENERIC = 1000;
export const ERR_REQUEST_TIMEOUT = 1050;
export const ERR_DIAL = 1210;
export const ERR_DIAL_TIMEOUT = 1211;
export const ERR_CONNECTION_REFUSED = 1212;
export const ERR_CONNECTION_RESET = 1220;
export const ERR_HTTP_PROTOCOL = 1600;
export const ERR_HTTP2_GOAWAY = 1610;
export const ERR_HTTP2_STREAM = 1630;
export const ERR_HTTP2_CONNECTION = 1650;
