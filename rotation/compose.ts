/**
 * Composing connection URLs from non-secret config and a credential. Pure.
 */
import { Endpoint } from "./catalog";
import { DatabaseSettings, RedisSettings } from "./config";

/** Where a database endpoint's URL points: the one place that maps an endpoint to its host and port. */
export function databaseAddress(db: DatabaseSettings, endpoint: Exclude<Endpoint, "redis">): { host: string; port: number } {
    switch (endpoint) {
        case "primary":
            return { host: db.host, port: db.port };
        case "replica":
            return { host: db.replicaHost, port: db.port };
        case "pgbouncer":
            return { host: db.pgbouncerHost, port: db.pgbouncerPort };
    }
}

/** The parts of the Redis settings that `REDIS_URL` is made of (not, e.g., the ACL rules `bootstrap` uses). */
export function redisUrlParts(redis: RedisSettings): Pick<RedisSettings, "tls" | "user" | "host" | "port" | "db"> {
    return { tls: redis.tls, user: redis.user, host: redis.host, port: redis.port, db: redis.db };
}

/** A PostgreSQL URL for one endpoint: user and password are URL-encoded, params appended in key order. */
export function postgresUrl(db: DatabaseSettings, host: string, port: number, user: string, password: string): string {
    const query = Object.keys(db.params)
        .sort()
        .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(db.params[k])}`)
        .join("&");
    return `${db.scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(db.name)}${query ? `?${query}` : ""}`;
}

/** A Redis URL (`rediss://` with TLS) naming the ACL user. */
export function redisUrl(redis: RedisSettings, password: string): string {
    const scheme = redis.tls ? "rediss" : "redis";
    return `${scheme}://${encodeURIComponent(redis.user)}:${encodeURIComponent(password)}@${redis.host}:${redis.port}/${redis.db}`;
}
