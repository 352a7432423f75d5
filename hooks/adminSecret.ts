/**
 * An applier's admin credential read from AWS Secrets Manager when the hook runs, instead of inherited from an
 * environment variable: the stack file names the secret's ARN (`rotation:adminSecrets.<group>`), the plan hands the
 * ARN (never the value) to the hook, and the hook calls GetSecretValue itself. So the value is never a program input
 * and never in the stack's state, and it is read fresh on every run: an RDS-managed master password, which RDS
 * rotates itself (every 7 days by default), never goes stale here.
 *
 * Formats:
 * - `url` (PostgreSQL, self-run Redis): a JSON object with string `username` and `password`, the keys of every RDS and
 *   Aurora credential secret, RDS-managed master user secrets included
 *   (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html: "JSON key
 *   names are case-sensitive"; https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html:
 *   "RDS generates the password and stores it in Secrets Manager"). Other keys (`host`, `port`, `engine`) are ignored:
 *   where to connect is the stack file's (the endpoint the hook is given), so a secret cannot redirect the hook.
 * - `key` (Typesense): the SecretString itself is the key.
 *
 * Region and endpoint: the secret's own region (from its ARN); the endpoint is the SDK's (AWS_ENDPOINT_URL, which the
 * program refuses outside the `local` stack unless ROTATION_ALLOW_AWS_ENDPOINT names it: rotation/settings.ts).
 */
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SECRET_ARN } from "../rotation/rules";
import { HookContract, takeAdminCredential } from "./contracts";
import { HookInputError, firstErrorLine, redactFromNowOn } from "./hookRuntime";

/**
 * Errors of GetSecretValue that mean the secret named cannot be used as it is: bad input, nothing changed
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html#API_GetSecretValue_Errors:
 * ResourceNotFoundException, InvalidRequestException "the secret is scheduled for deletion", DecryptionFailure "can't
 * decrypt the protected secret text using the provided KMS key"; AccessDeniedException from IAM).
 */
const UNUSABLE = new Set(["ResourceNotFoundException", "AccessDeniedException", "InvalidRequestException", "DecryptionFailure", "InvalidParameterException"]);

/** The region a secret's ARN names. */
function regionOf(arn: string): string {
    const m = SECRET_ARN.exec(arn);
    if (!m) throw new HookInputError(`admin secret ARN ${JSON.stringify(arn)} is not a Secrets Manager secret's complete ARN`);
    return m[1];
}

/**
 * The SecretString of the secret at `arn` (its AWSCURRENT version).
 * @throws HookInputError naming the ARN and the cause (missing, unreadable, binary), never a value
 */
export async function readSecretString(arn: string): Promise<string> {
    const client = new SecretsManagerClient({ region: regionOf(arn) });
    let text: string | undefined;
    try {
        text = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
    } catch (err) {
        const name = (err as Error).name;
        if (UNUSABLE.has(name)) throw new HookInputError(`admin secret ${arn} cannot be read (${name}: ${firstErrorLine(err)})`);
        throw new Error(`could not read admin secret ${arn}: ${firstErrorLine(err)}`);
    } finally {
        client.destroy();
    }
    if (text === undefined || text === "") throw new HookInputError(`admin secret ${arn} has no SecretString (a binary secret cannot hold an admin credential)`);
    redactFromNowOn(text);
    return text;
}

/** `username` and `password` of a credential secret's JSON. */
export function userPassword(text: string, arn: string): { readonly username: string; readonly password: string } {
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        value = undefined;
    }
    const o = value as { username?: unknown; password?: unknown } | undefined;
    if (typeof o !== "object" || o === null || typeof o.username !== "string" || o.username === "" || typeof o.password !== "string" || o.password === "") {
        throw new HookInputError(`admin secret ${arn} is not a JSON object with string \`username\` and \`password\` (the format of RDS credential secrets)`);
    }
    redactFromNowOn(o.password, encodeURIComponent(o.password));
    return { username: o.username, password: o.password };
}

/** `endpoint` (a URL without credentials) with the user and password set, percent-encoded by the URL parser. */
export function withCredentials(endpoint: string, username: string, password: string): string {
    const u = new URL(endpoint);
    u.username = encodeURIComponent(username);
    u.password = encodeURIComponent(password);
    return u.toString();
}

/** Where a hook's admin credential comes from: the inputs its contract decodes for it. */
export interface AdminSecretInput {
    /** The secret's complete ARN (`rotation:adminSecrets.<group>`). */
    readonly adminSecretArn?: string;
    /** `url` format: the URL the credentials are put into (from the stack file). */
    readonly adminEndpoint?: string;
}

/**
 * The hook's admin credential: read from the secret when its contract's ARN field is set, else the variable it
 * inherits (removed from `env` once read). Both at once is refused: which one is meant would be a guess.
 *
 * @throws HookInputError for a missing, unreadable or malformed secret, or both sources set (exit code 2)
 */
export async function adminCredentialOf(
    contract: HookContract & { readonly adminEnv: string },
    input: AdminSecretInput,
    format: "url" | "key",
    env: NodeJS.ProcessEnv,
): Promise<string> {
    const arn = input.adminSecretArn;
    if (arn === undefined) return takeAdminCredential(contract, env);
    if ((env[contract.adminEnv] ?? "").trim() !== "") {
        throw new HookInputError(`both ${contract.adminEnv} and the admin secret ${arn} are given; unset ${contract.adminEnv} (the stack file names the secret)`);
    }
    const text = await readSecretString(arn);
    if (format === "key") return text;
    if (input.adminEndpoint === undefined) throw new HookInputError(`the admin secret ${arn} needs an endpoint to connect to, and none was given`);
    const { username, password } = userPassword(text, arn);
    return withCredentials(input.adminEndpoint, username, password);
}
