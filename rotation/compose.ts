/**
 * Composing connection URLs from non-secret config and a credential. Pure.
 */
import { DatabaseSettings, RedisSettings } from "./config";

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
