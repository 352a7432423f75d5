/**
 * The one redactor of everything the CLI writes: stdout and stderr (error lines, progress, the engine output it
 * echoes), the audit record, the step summary row and the CloudWatch event. Fail-closed: it does not rely on any
 * writer having been careful, it filters at the sinks.
 *
 * What it replaces with `[redacted]`:
 * - the value of every admin credential in the environment (rotation/adminCredentials.ts `ADMIN_CREDENTIALS`) and of
 *   the job's own credentials ({@link RUN_CREDENTIALS}), in the forms a library or an error message may print them:
 *   as is, URL-encoded, JSON-escaped, base64 and base64url; for a URL-shaped value also its password alone (decoded
 *   and as written);
 * - the userinfo of anything shaped like a URL with credentials (`scheme://user:pass@host` becomes
 *   `scheme://[redacted]@host`), whatever variable or server it came from.
 *
 * Pure apart from reading the environment it is given.
 */
import { ADMIN_CREDENTIALS } from "../rotation/adminCredentials";

export const REDACTED = "[redacted]";

/**
 * The credentials of the run itself, beside the appliers' admin credentials: what `configure-aws-credentials` exports
 * (AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the Pulumi backend token and the passphrase of a passphrase-encrypted
 * stack.
 */
export const RUN_CREDENTIALS: readonly string[] = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"];

/** Every variable whose value is redacted. */
export const REDACTED_ENV: readonly string[] = [...ADMIN_CREDENTIALS, ...RUN_CREDENTIALS];

/**
 * Values shorter than this are not replaced: a one- to three-character "credential" protects nothing, and replacing
 * every `a` or `ab` would make every line unreadable. (An empty value is not set at all.)
 */
export const MIN_SECRET_LENGTH = 4;

/**
 * `scheme://` then userinfo up to the last `@` of the authority: anything but whitespace, `/`, `?`, `#` and quotes,
 * so a password holding an unencoded `@` is covered whole.
 */
const URL_USERINFO = /\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s/?#"'<>`]*@/g;

export type Redactor = (text: string) => string;

/** The forms a secret value may take in a message. */
function variants(value: string): string[] {
    const forms = new Set<string>([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
    forms.add(Buffer.from(value).toString("base64"));
    forms.add(Buffer.from(value).toString("base64url"));
    try {
        const url = new URL(value);
        if (url.password) {
            forms.add(url.password);
            forms.add(decodeURIComponent(url.password));
        }
    } catch {
        // not a URL: the value itself is the secret
    }
    return [...forms];
}

/** The secret strings to replace, longest first (so a value never leaves a redacted fragment of a longer one). */
export function secretsIn(env: NodeJS.ProcessEnv): string[] {
    const values = REDACTED_ENV.map((name) => env[name] ?? "").filter((v) => v.trim() !== "");
    return [...new Set(values.flatMap(variants))].filter((v) => v.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** A redactor for the credentials in `env` (read once: build it where the environment is final). */
export function redactorFor(env: NodeJS.ProcessEnv): Redactor {
    const secrets = secretsIn(env);
    return (text: string) => {
        let out = text;
        for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
        return out.replace(URL_USERINFO, `$1${REDACTED}@`);
    };
}

/** Every string in a JSON-shaped value, redacted (keys are the program's own names and are kept). */
export function redactDeep<T>(value: T, redact: Redactor): T {
    if (typeof value === "string") return redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact)) as T;
    if (value !== null && typeof value === "object") {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, redact)])) as T;
    }
    return value;
}

/**
 * A writer that redacts whole lines: text is held until its line ends, so a secret split across two chunks (as a
 * child process's output arrives) is still seen whole. `flush` writes what is left at the end. A line longer than
 * `maxLine` without a newline is written redacted as it stands (a secret straddling that cut is the one case not
 * seen whole; no engine line comes near 64 KiB).
 */
export class RedactingLineWriter {
    private pending = "";

    constructor(
        private readonly out: (text: string) => void,
        private readonly redact: Redactor,
        private readonly maxLine = 64 * 1024,
    ) {}

    write(chunk: string): void {
        this.pending += chunk;
        const end = this.pending.lastIndexOf("\n");
        if (end >= 0) {
            this.out(this.redact(this.pending.slice(0, end + 1)));
            this.pending = this.pending.slice(end + 1);
        }
        if (this.pending.length > this.maxLine) {
            this.out(this.redact(this.pending));
            this.pending = "";
        }
    }

    flush(): void {
        if (this.pending !== "") this.out(this.redact(this.pending));
        this.pending = "";
    }
}
