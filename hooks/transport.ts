/**
 * What the hooks require of the links that carry admin credentials: TLS with a verified certificate to any host that
 * is not this machine's loopback interface. The rules per source live with each hook (postgresApply, redisApply,
 * typesenseApply); this module holds what they share.
 */
import { readFileSync } from "node:fs";
import { HookInputError } from "./hookRuntime";

/**
 * True for a host that names this machine's loopback interface: `localhost`, an IPv4 address in 127.0.0.0/8
 * (RFC 1122 section 3.2.1.3) or `::1` (RFC 4291 section 2.5.3), with or without the brackets URLs put around IPv6.
 * Anything else is treated as remote, including forms a resolver might still map to loopback (`127.1`,
 * `localhost.`, `::ffff:127.0.0.1`): the check fails closed.
 */
export { isLoopbackHost } from "../rotation/rules";

/**
 * The PEM bundle in the file `env[name]` names, or undefined when the variable is unset or empty. The path is not a
 * secret, but the message names only the variable and the reason.
 *
 * @throws HookInputError when the file cannot be read or holds no PEM certificate (exit code 2)
 */
export function readCaBundle(name: string, env: NodeJS.ProcessEnv): string | undefined {
    const path = env[name];
    if (path === undefined || path.trim() === "") return undefined;
    let pem: string;
    try {
        pem = readFileSync(path, "utf8");
    } catch (err) {
        throw new HookInputError(`environment variable ${name} names a file that cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
        throw new HookInputError(`environment variable ${name} names a file that holds no PEM certificate`);
    }
    return pem;
}

/**
 * A one-line hint for a certificate that could not be verified, keyed by Node's TLS error codes
 * (https://nodejs.org/api/tls.html, `tlsSocket.authorizationError`; OpenSSL's X509_V_ERR_* names), or "" for any
 * other error.
 */
export function tlsHint(err: unknown, caEnv: string): string {
    const code = (err as { code?: string } | undefined)?.code ?? "";
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
        return " (TLS: the certificate was not issued for the host the URL names; use the name it was issued for)";
    }
    const unverified = ["SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "CERT_UNTRUSTED"];
    if (unverified.includes(code)) return ` (TLS: the server's certificate is not from a trusted CA; set ${caEnv} to the CA bundle that issued it)`;
    if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") return " (TLS: the server's certificate is not valid now)";
    return "";
}
