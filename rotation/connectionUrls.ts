/**
 * Connection URLs from their non-secret parts and a password: the one place a published URL is spelled out. Pure.
 */

/** The parts of a PostgreSQL URL other than the password. */
export interface PostgresUrlParts {
    readonly scheme: string;
    readonly user: string;
    readonly host: string;
    readonly port: number;
    readonly database: string;
    /** Query parameters, appended in key order. */
    readonly params: Readonly<Record<string, string>>;
}

/** The parts of a Redis URL other than the password. */
export interface RedisUrlParts {
    readonly tls: boolean;
    readonly user: string;
    readonly host: string;
    readonly port: number;
    readonly db: number;
}

/** A PostgreSQL URL: user and password are URL-encoded, params appended in key order. */
export function postgresUrl(parts: PostgresUrlParts, password: string): string {
    const query = Object.keys(parts.params)
        .sort()
        .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(parts.params[k])}`)
        .join("&");
    return (
        `${parts.scheme}://${encodeURIComponent(parts.user)}:${encodeURIComponent(password)}@${parts.host}:${parts.port}/` +
        `${encodeURIComponent(parts.database)}${query ? `?${query}` : ""}`
    );
}

/** A Redis URL (`rediss://` with TLS) naming the ACL user. */
export function redisUrl(parts: RedisUrlParts, password: string): string {
    const scheme = parts.tls ? "rediss" : "redis";
    return `${scheme}://${encodeURIComponent(parts.user)}:${encodeURIComponent(password)}@${parts.host}:${parts.port}/${parts.db}`;
}
