/**
 * What the program remembers between runs, as two non-secret stack outputs read back through a StackReference to
 * the stack itself, validated here. The schemas are the only definition of the stored shapes; the types derive
 * from them. Pure.
 *
 * - `rotationState`: the last *committed* state, recorded only by a run that achieved it (every store written,
 *   every consumer restarted, the health gate passed).
 * - `rotationAttempt`: the run in progress, recorded before its first change (see rotation/program.ts for why the
 *   engine keeps it when a run fails). `null` once a run commits.
 */
import { z } from "zod";
import { GROUPS, Group, PROVIDERS, RESTART_SCOPES, SLOTS } from "./catalog";
import { RotationInputError } from "./errors";
import { RotationRequest, parseRequest } from "./request";

/** The stack output holding the last committed state. */
export const STATE_OUTPUT = "rotationState";
/** The stack output holding the run in progress (null when none). */
export const ATTEMPT_OUTPUT = "rotationAttempt";

/** Version of the stored layout, bumped on incompatible change (with a one-step migration from the one before). */
export const STATE_VERSION = 2;

const slotMap = <T extends z.ZodType>(value: T) => z.object({ a: value, b: value });
const perProvider = <T extends z.ZodType>(value: T) => z.object({ aws: value, k8s: value });

const groupStateSchema = z.object({
    /** The stamp of the group's last rotation. */
    stamp: z.string(),
    /** The slot consumers are told to use. */
    active: z.enum(SLOTS),
    /**
     * Each slot's generation label: the keeper of its credential, so a slot is generated anew exactly when its label
     * changes. A rotation labels the slot it regenerates after the committed state it starts from (`g<serial>`),
     * never after its requested stamp, so any retry from the same committed state rebuilds the very value a failed
     * attempt may already have published.
     */
    generation: slotMap(z.string().min(1)),
    /** The stamp each slot was last made active at; `null` for a slot never made active. */
    activeSince: slotMap(z.string().nullable()),
    /** Whether the rotation to `stamp` was rolled back (the active slot is the older one). */
    rolledBack: z.boolean(),
    /**
     * Providers held back by a provider-limited rotation (`rotate --provider aws` holds `k8s`), with the slot they
     * still publish. The group cannot rotate again until every held provider has caught up: that rotation would
     * regenerate the held slot.
     */
    held: z.partialRecord(z.enum(PROVIDERS), z.enum(SLOTS)),
    /** When the group last changed its active slot (rotation or rollback), ISO 8601. */
    changedAt: z.string(),
    /**
     * The slot that holds the values in use before the first deployment (generation `adopted`), with the AWS version
     * id of each secret it was read from (non-secret: the values themselves are only in the engine's encrypted state,
     * in the resources that imported those versions). Absent once the slot is regenerated.
     */
    adopted: z.object({ slot: z.enum(SLOTS), versions: z.record(z.string(), z.string()) }).optional(),
});

const groupsSchema = z.object(Object.fromEntries(GROUPS.map((g) => [g, groupStateSchema])) as Record<Group, typeof groupStateSchema>);

const stateSchema = z.object({
    version: z.literal(STATE_VERSION),
    /** Counts committed runs that changed anything; labels generations and makes restart triggers unique per run. */
    serial: z.number().int().min(0),
    groups: groupsSchema,
    /** Version digest of every published secret, per provider (they differ while one is held back). */
    secrets: perProvider(z.record(z.string(), z.string())),
    /**
     * The commit that last wrote each secret's value, per provider: part of each store write's replacement trigger,
     * so a run that must write a value back (undoing an unfinished run whose write the engine never recorded) does.
     */
    writes: perProvider(z.record(z.string(), z.number().int().min(0))).default({ aws: {}, k8s: {} }),
    /** Restart trigger of every consumer, by consumer id. */
    consumers: z.record(z.string(), z.string()),
    /** The health gate's trigger. */
    health: z.string(),
    /** The latest restart stamp of each scope ever applied (restart stamps, like rotation stamps, never go back). */
    restartStamps: z.partialRecord(z.enum(RESTART_SCOPES), z.string()),
});

export type GroupState = z.output<typeof groupStateSchema>;
export type RotationState = z.output<typeof stateSchema>;

const attemptSchema = z.object({
    version: z.literal(STATE_VERSION),
    /** The serial of the committed state the attempt started from (0: no committed state yet). */
    from: z.number().int().min(0),
    /** What the run asked for, with the stamps it resolved (so a rerun resumes exactly it). */
    request: z.unknown(),
    /** The state the attempt commits when it completes. */
    target: stateSchema,
    startedAt: z.string(),
    /**
     * The slots whose new credential the engine is known to hold, by group: recorded by the run as each group's
     * regenerated slots are created, before anything is applied or published (rotation/program.ts
     * `declareCredentials`); `{}` until the first group's exist. Absent: not known (an attempt recorded by an older
     * version); a rollback then assumes every slot the target regenerates was generated, which never regenerates a
     * value the run may have published.
     */
    generated: z.partialRecord(z.enum(GROUPS), z.array(z.enum(SLOTS))).optional(),
});

/** A run that started from a committed state and may not have finished. */
export interface Attempt extends Omit<z.output<typeof attemptSchema>, "request"> {
    readonly request: RotationRequest;
}

/** What the last runs left: the committed state (none before the first deployment) and the run in progress. */
export interface StoredState {
    readonly committed?: RotationState;
    readonly attempt?: Attempt;
}

// Version 1 (before attempts): `schema: 1`, per-group `slots` (generation stamp, null for the slot made on first
// deployment) and `restarts`. Migrated in one step; generation labels keep their old values so no keeper changes.
const v1GroupSchema = z.object({
    stamp: z.string(),
    active: z.enum(SLOTS),
    slots: slotMap(z.string().nullable()),
    rolledBack: z.boolean(),
    held: z.partialRecord(z.enum(PROVIDERS), z.enum(SLOTS)),
    changedAt: z.string(),
});
const v1StateSchema = z.object({
    schema: z.literal(1),
    groups: z.object(Object.fromEntries(GROUPS.map((g) => [g, v1GroupSchema])) as Record<Group, typeof v1GroupSchema>),
    secrets: perProvider(z.record(z.string(), z.string())),
    consumers: z.record(z.string(), z.string()),
    health: z.string(),
    restarts: z.partialRecord(z.enum(RESTART_SCOPES), z.string()),
});

function migrateV1(v1: z.output<typeof v1StateSchema>): RotationState {
    const groups = Object.fromEntries(
        GROUPS.map((g) => {
            const { slots, ...rest } = v1.groups[g];
            const group: GroupState = { ...rest, generation: { a: slots.a ?? "initial", b: slots.b ?? "initial" }, activeSince: slots };
            return [g, group];
        }),
    ) as Record<Group, GroupState>;
    return {
        version: STATE_VERSION,
        serial: 0,
        groups,
        secrets: v1.secrets,
        writes: { aws: {}, k8s: {} },
        consumers: v1.consumers,
        health: v1.health,
        restartStamps: v1.restarts,
    };
}

/**
 * Validates the committed state read back from the last run. A state that cannot be read is an error, never "first
 * deployment": guessing would regenerate a slot that consumers still hold.
 */
export function parseState(value: unknown): RotationState {
    const current = stateSchema.safeParse(value);
    if (current.success) return current.data;
    const v1 = v1StateSchema.safeParse(value);
    if (v1.success) return migrateV1(v1.data);
    throw unreadable(STATE_OUTPUT);
}

/** Validates what the last runs left in both outputs. */
export function parseStored(state: unknown, attempt: unknown): StoredState {
    const committed = state === undefined || state === null ? undefined : parseState(state);
    if (attempt === undefined || attempt === null) return { committed };
    const parsed = attemptSchema.safeParse(attempt);
    if (!parsed.success) throw unreadable(ATTEMPT_OUTPUT);
    let request: RotationRequest;
    try {
        request = parseRequest(JSON.stringify(parsed.data.request));
    } catch {
        throw unreadable(ATTEMPT_OUTPUT);
    }
    return { committed, attempt: { ...parsed.data, request } };
}

/** The attempt that is still unfinished: one that started from the committed state we have (a later commit ends it). */
export function pendingAttempt(stored: StoredState): Attempt | undefined {
    const a = stored.attempt;
    return a !== undefined && a.from === (stored.committed?.serial ?? 0) && a.target.serial > a.from ? a : undefined;
}

function unreadable(output: string): RotationInputError {
    return new RotationInputError(
        output,
        `the stack output \`${output}\` left by the last run is not a version ${STATE_VERSION} rotation state; refusing to guess which slots are in use`,
    );
}
