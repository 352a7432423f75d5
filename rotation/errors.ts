/**
 * A problem with what the user asked for: a config key, a stamp, a group name. Nothing has been changed when one
 * is thrown. The message is one line, names the offending key in backticks and, where there is a closed set, the
 * allowed values. Never put a secret value in it.
 */
export class RotationInputError extends Error {
    /** The config key (e.g. `rotation:database.port`) or CLI option the problem is about. */
    readonly key: string;

    constructor(key: string, message: string) {
        super(message);
        this.name = "RotationInputError";
        this.key = key;
    }
}

/** Formats a closed set for an error message: `a`, `b`, `c`. */
export function listAllowed(values: readonly string[]): string {
    return values.map((v) => `\`${v}\``).join(", ");
}
