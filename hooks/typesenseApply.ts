/**
 * Registers a typesense slot's random value as a Typesense API key (POST /keys with that `value`), proves it by
 * using it, then deletes the key this slot held before (the one from two rotations ago) — new key first, so nothing
 * is ever without a valid key. Keys are found by their description, `buywhere-rotation:<stack>:slot-<slot>:<stamp>`;
 * a slot whose key for this stamp already exists is not registered again (but proven again). Keys API:
 * https://typesense.org/docs/30.0/api/api-keys.html (POST /keys with an explicit `value`, GET /keys returns only
 * `value_prefix`, DELETE /keys/:id; the admin key in the X-TYPESENSE-API-KEY header).
 *
 * The proof is a search with the new key on every configured collection (`proveKey`): in an HA cluster a new key
 * reaches the followers after a delay, so the proof is retried with backoff until it succeeds or
 * `proofTimeoutSeconds` runs out — and the hook fails, before any store is written, if the cluster never accepts it.
 *
 * The admin key and the new key's value travel only over `https://`, unless the URL names this machine
 * (`requireTls`); `fetch` verifies the certificate, and NODE_TLS_REJECT_UNAUTHORIZED is removed from every hook's
 * environment (hooks/adminEnv.ts). A private CA is trusted through NODE_EXTRA_CA_CERTS
 * (https://nodejs.org/api/cli.html#node_extra_ca_certsfile).
 *
 * Inputs: `typesenseApplyContract` (hooks/contracts.ts), and the admin key it names as `adminEnv`.
 */
import "./isolateEnv"; // first: strips other hooks' credentials before any library loads
import { adminCredentialOf } from "./adminSecret";
import { HookInput, adminCredential, fromEnv, hookSecrets, typesenseApplyContract } from "./contracts";
import { HookInputError, Log, SourceError, runHook, sleep } from "./hookRuntime";
import { isLoopbackHost, tlsHint } from "./transport";

/** One slot's key as the contract decodes it, and the admin key that registers it. */
export type TypesenseSlot = HookInput<typeof typesenseApplyContract> & { readonly adminKey: string };

interface KeyInfo {
    readonly id: number;
    readonly description?: string;
    readonly value_prefix?: string;
}

export const slotDescriptionPrefix = (stack: string, slot: string) => `buywhere-rotation:${stack}:slot-${slot}:`;

async function call(opts: TypesenseSlot, method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
        res = await fetch(new URL(path, opts.url), {
            method,
            headers: { "X-TYPESENSE-API-KEY": opts.adminKey, "Content-Type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
        });
    } catch (err) {
        // fetch rejects with "fetch failed" and the reason in `cause` (undici); its code only, and a hint for TLS.
        const cause = (err as { cause?: { code?: string } }).cause;
        const code = typeof cause?.code === "string" && /^[A-Z0-9_]+$/.test(cause.code) ? ` (${cause.code})` : "";
        throw new Error(`could not reach Typesense at ${new URL(opts.url).origin}: ${(err as Error).message}${code}${tlsHint(cause, "NODE_EXTRA_CA_CERTS")}`);
    }
    const text = await res.text();
    if (!res.ok) {
        // Typesense answers {"message": "..."}; never echo a request body (it carries the key's value).
        let message = `HTTP ${res.status}`;
        try {
            message = `${message}: ${(JSON.parse(text) as { message?: string }).message ?? ""}`.trim();
        } catch {
            /* not JSON */
        }
        throw new SourceError(`Typesense ${method} ${path} failed: ${message}`);
    }
    return text ? JSON.parse(text) : {};
}

export interface TypesenseApplyResult {
    readonly keyId: number;
    readonly created: boolean;
    readonly deleted: readonly number[];
}

/**
 * Refuses a URL that would send the admin key in clear: `http://` is accepted only for a loopback host
 * (`isLoopbackHost`, hooks/transport.ts).
 *
 * @throws HookInputError naming TYPESENSE_URL (exit code 2), before any request
 */
export function requireTls(url: string): void {
    const u = new URL(url);
    if (u.protocol === "https:" || (u.protocol === "http:" && isLoopbackHost(u.hostname))) return;
    throw new HookInputError(
        `${typesenseApplyContract.fields.url.env} must be an https:// URL: its host is not loopback, and ${typesenseApplyContract.adminEnv} would cross the network in clear`,
    );
}

/** Registers the slot's key (if not already) and deletes the slot's older keys. */
export async function applyTypesenseSlot(opts: TypesenseSlot, log: Log = () => undefined): Promise<TypesenseApplyResult> {
    requireTls(opts.url);
    const prefix = slotDescriptionPrefix(opts.stack, opts.slot);
    const description = `${prefix}${opts.stamp}`;
    const { keys } = (await call(opts, "GET", "/keys")) as { keys: KeyInfo[] };
    const mine = keys.filter((k) => k.description?.startsWith(prefix));
    let current = mine.find((k) => k.description === description && k.value_prefix === opts.value.slice(0, k.value_prefix?.length ?? 4));
    const created = current === undefined;
    if (current === undefined) {
        current = (await call(opts, "POST", "/keys", {
            description,
            value: opts.value,
            actions: opts.actions,
            collections: opts.collections,
        })) as KeyInfo;
        log(`registered key ${current.id} for slot ${opts.slot} (${opts.stamp})`);
    } else {
        log(`slot ${opts.slot}'s key for ${opts.stamp} is already registered (${current.id}); nothing to create`);
    }
    await proveKey(opts, log);
    const stale = mine.filter((k) => k.id !== current!.id).map((k) => k.id);
    for (const id of stale) {
        await call(opts, "DELETE", `/keys/${id}`);
        log(`deleted slot ${opts.slot}'s previous key ${id}`);
    }
    // The key in use before `adopt`, retired with the adopted slot: by id, once the new key is proven. A key already
    // gone is fine (an earlier attempt of this run deleted it, or an operator did).
    if (opts.retireKeyId !== undefined && opts.retireKeyId !== current.id && keys.some((k) => k.id === opts.retireKeyId)) {
        await call(opts, "DELETE", `/keys/${opts.retireKeyId}`);
        log(`deleted the legacy key ${opts.retireKeyId} (adopted, now retired)`);
        stale.push(opts.retireKeyId);
    }
    return { keyId: current.id, created, deleted: stale };
}

/** How long a new key may take to be accepted, unless the stack file says (`rotation:typesense.proofTimeoutSeconds`). */
export const DEFAULT_PROOF_TIMEOUT_SECONDS = 60;

/** The collections to prove a key on: those configured, or every collection the cluster has when that is `*`. */
async function collectionsToProve(opts: TypesenseSlot): Promise<string[]> {
    if (!opts.collections.includes("*")) return [...opts.collections];
    // GET /collections lists every collection (https://typesense.org/docs/27.1/api/collections.html#list-all-collections).
    const all = ((await call(opts, "GET", "/collections")) as { name: string }[]).map((c) => c.name);
    if (all.length === 0) throw new SourceError(`Typesense at ${new URL(opts.url).origin} has no collection to prove slot ${opts.slot}'s key on`);
    return all;
}

type SearchAnswer = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly reason: string };

/**
 * One search with the slot's own key: `GET /collections/<c>/documents/search?q=*&per_page=0` (no hits are fetched,
 * https://typesense.org/docs/27.1/api/search.html: `q=*` matches every document, `per_page` the number of hits), the
 * key in X-TYPESENSE-API-KEY. 401/403 (not propagated yet), 5xx and a failed connection are worth retrying; 404 (no
 * such collection) and any other answer are not.
 */
async function searchWith(opts: TypesenseSlot, collection: string): Promise<SearchAnswer> {
    const path = `/collections/${encodeURIComponent(collection)}/documents/search?q=*&per_page=0`;
    let res: Response;
    try {
        res = await fetch(new URL(path, opts.url), { headers: { "X-TYPESENSE-API-KEY": opts.value }, signal: AbortSignal.timeout(10_000) });
    } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause;
        const code = typeof cause?.code === "string" && /^[A-Z0-9_]+$/.test(cause.code) ? ` (${cause.code})` : "";
        return { ok: false, retry: true, reason: `${(err as Error).message}${code}` };
    }
    const text = await res.text();
    if (res.ok) return { ok: true };
    let message = `HTTP ${res.status}`;
    try {
        message = `${message}: ${(JSON.parse(text) as { message?: string }).message ?? ""}`.trim();
    } catch {
        /* not JSON */
    }
    return { ok: false, retry: res.status === 401 || res.status === 403 || res.status >= 500, reason: message };
}

/**
 * Proves the slot's key by using it: a search on each collection, retried with backoff (0.25 s doubling to 5 s)
 * until the cluster accepts it or `proofTimeoutSeconds` (default 60) runs out. A collection that does not exist fails
 * at once, naming it.
 *
 * @throws SourceError naming the collection and the last answer when the key is not accepted in time
 */
export async function proveKey(opts: TypesenseSlot, log: Log = () => undefined): Promise<void> {
    const timeoutSeconds = opts.proofTimeoutSeconds ?? DEFAULT_PROOF_TIMEOUT_SECONDS;
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (const collection of await collectionsToProve(opts)) {
        let attempts = 0;
        for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
            attempts++;
            const answer = await searchWith(opts, collection);
            if (answer.ok) break;
            if (answer.reason.startsWith("HTTP 404")) {
                throw new SourceError(`Typesense at ${new URL(opts.url).origin} has no collection \`${collection}\` (${answer.reason}); check rotation:typesense.collections`);
            }
            if (!answer.retry || Date.now() + delay > deadline) {
                throw new SourceError(
                    `Typesense did not accept slot ${opts.slot}'s new key for a search on \`${collection}\` within ${timeoutSeconds} s (${attempts} attempt${attempts === 1 ? "" : "s"}, last: ${answer.reason}); nothing was published`,
                );
            }
            await sleep(delay);
        }
        log(`slot ${opts.slot}'s key searches ${collection}${attempts > 1 ? ` (accepted after ${attempts} attempts)` : ""}`);
    }
}

/** The hook's inputs: its contract's fields and the inherited admin key. */
export function optionsFromEnv(env: NodeJS.ProcessEnv): TypesenseSlot {
    return { ...fromEnv(typesenseApplyContract, env), adminKey: adminCredential(typesenseApplyContract, env) };
}

if (require.main === module) {
    runHook("typesense-apply", hookSecrets(typesenseApplyContract, process.env), async (log) => {
        const input = fromEnv(typesenseApplyContract, process.env);
        // ROTATION_TYPESENSE_ADMIN_KEY, or the secret `rotation:adminSecrets.typesense` names (hooks/adminSecret.ts).
        const adminKey = await adminCredentialOf(typesenseApplyContract, input, "key", process.env);
        await applyTypesenseSlot({ ...input, adminKey }, log);
    });
}
