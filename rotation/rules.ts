/**
 * The shape rules of the names and addresses this project passes around: one definition each, used by the stack-file
 * schema (`rotation/settings.ts`) and by the hook contracts (`hooks/contracts.ts`), so a value the config accepts is
 * exactly a value the hooks accept. Pure.
 */
import { z } from "zod";

/** A PostgreSQL identifier we quote ourselves: lower-case letters, digits, `_`, at most 63 bytes. */
export const PG_IDENT = /^[a-z_][a-z0-9_]{0,62}$/;
/** A Redis ACL user name: ACL rules use `>`, `<`, `#`, `~`, `%`, `&` and spaces, so a name must contain none. */
export const REDIS_USER = /^[A-Za-z0-9_.-]{1,128}$/;
export const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
export const ECS_NAME = /^[A-Za-z0-9_-]{1,255}$/;
export const HOST = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
/**
 * An ElastiCache user id, as the API takes it: `[a-zA-Z][a-zA-Z0-9\-]*`, at least one character
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_ModifyUser.html, `UserId`). It is also the
 * last part of the user's ARN, `arn:aws:elasticache:<region>:<account>:user:<user id>`.
 */
export const ELASTICACHE_USER_ID = /^[a-zA-Z][a-zA-Z0-9-]*$/;
/**
 * A Secrets Manager secret's complete ARN: the name (RDS-managed secrets are named `rds!cluster-<uuid>`) followed by
 * `-` and the six random characters Secrets Manager appends
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html#auth-and-access_examples_wildcard), so the
 * IAM policy can name exactly this secret.
 */
export const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d):(\d{12}):secret:[A-Za-z0-9/_+=.@!-]+-[A-Za-z0-9]{6}$/;
/** A duration in the stack file: minutes, hours or days (`90m`, `12h`, `7d`); `0m` for none. */
export const DURATION = /^(0|[1-9]\d{0,4})(m|h|d)$/;

/** A {@link DURATION} in milliseconds. */
export function durationMs(duration: string): number {
    const m = DURATION.exec(duration);
    if (!m) throw new Error(`not a duration: ${duration}`);
    return Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "m" | "h" | "d"];
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * True only for a loopback host: exactly `localhost`, an address in 127.0.0.0/8, or `::1`. Anything else is remote,
 * including forms a resolver might still map to loopback (`127.1`, `localhost.`, `::ffff:127.0.0.1`): fails closed.
 */
export function isLoopbackHost(host: string): boolean {
    const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
    if (h === "localhost" || h === "::1") return true;
    return /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(h) && h.split(".").every((o) => Number(o) <= 255);
}

/** Why `value` is not an http(s) URL without credentials in it, or undefined when it is one. */
export function httpUrlProblem(value: string): string | undefined {
    let u: URL | undefined;
    try {
        u = new URL(value);
    } catch {
        u = undefined;
    }
    if (u && (u.username || u.password)) {
        // Never echo it: the credentials would end up in logs and errors.
        return `is a URL with credentials in it (user info before the host); give the URL without them`;
    }
    if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) {
        return `${JSON.stringify(value)} is not an http(s) URL without credentials`;
    }
    return undefined;
}

/** An http(s) URL that carries no credentials (they would end up in state, logs and previews). */
export const httpUrl = z.string({ error: "must be an http(s) URL" }).superRefine((v, ctx) => {
    const problem = httpUrlProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** A string matching `re`, with a message naming what it should be. */
export function matching(re: RegExp, what: string) {
    return z.string({ error: `must be a string (${what})` }).refine((v) => re.test(v), { error: (iss) => `${JSON.stringify(iss.input)} is not ${what}` });
}

export const pgIdent = (what = "a PostgreSQL role name") => matching(PG_IDENT, what);
export const redisUser = () => matching(REDIS_USER, "a Redis ACL user name");
