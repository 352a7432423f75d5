/**
 * The request protocol between the CLI and the program: what one run asks for on top of the stack file (`rotate`,
 * `rotate-all`, `restart`, `rollback`). The CLI encodes it into {@link REQUEST_ENV}; the program decodes it. It says
 * what was asked, never how to word a refusal: the planner judges it and each front end words the refusal. Pure.
 */
import { z } from "zod";
import { GROUPS, Group, PROVIDERS, Provider, RESTART_SCOPES, RestartScope } from "./catalog";
import { RotationInputError } from "./errors";
import { obj, oneOf, stamp, toInputError, unique } from "./schemaKit";

/** The environment variable through which the CLI hands the program one run's request. */
export const REQUEST_ENV = "ROTATION_REQUEST";

const groups = z.array(oneOf(GROUPS)).min(1).superRefine(unique((g: string) => g, "group"));

const requestSchema = obj({
    /**
     * Rotate these groups. Without `stamp` the planner picks one from the clock (or resumes an unfinished rotation's);
     * `scheduled` asks for this period's scheduled stamp when no group has it yet (the monthly `rotate-all`).
     * `provider` limits the rotation to one provider (the other is held back), or catches a held provider up.
     */
    rotate: obj({
        groups,
        provider: oneOf(PROVIDERS).optional(),
        stamp: stamp.optional(),
        scheduled: z.boolean().default(false),
    }).optional(),
    /** Roll back these groups' last rotation (make the other slot active again), or abandon an unfinished one. */
    rollback: obj({ groups }).optional(),
    /**
     * Regenerate these groups' inactive slot and keep the active one: the previous credential stops working at its
     * source. `endSessions` also ends the sessions still open with it (a leaked credential).
     */
    retire: obj({ groups, endSessions: z.boolean().default(false) }).optional(),
    /**
     * The stack's first deployment takes the values in use today as each group's active slot (`adopt`): nothing is
     * published differently and nothing restarts.
     */
    adopt: obj({}).optional(),
    /** The stack's first deployment generates every slot: only for an environment where nothing uses the secrets yet. */
    firstDeployment: z.boolean().optional(),
    /** Restart the consumers in these scopes without rotating; without `stamp` the planner picks one from the clock. */
    restart: obj({
        scopes: z.array(oneOf(RESTART_SCOPES)).min(1).superRefine(unique((s: string) => s, "scope")),
        stamp: stamp.optional(),
    }).optional(),
});

/** One run's request. Unlike the stack file's stamps, which are a floor, a requested stamp is strict. */
export interface RotationRequest {
    readonly rotate?: {
        readonly groups: readonly Group[];
        readonly provider?: Provider;
        readonly stamp?: string;
        readonly scheduled: boolean;
    };
    readonly rollback?: { readonly groups: readonly Group[] };
    readonly retire?: { readonly groups: readonly Group[]; readonly endSessions: boolean };
    readonly restart?: { readonly scopes: readonly RestartScope[]; readonly stamp?: string };
    readonly adopt?: Readonly<Record<string, never>>;
    readonly firstDeployment?: boolean;
}

/** The empty request: a run that only applies the stack file (what a raw `pulumi up` is). */
export const NO_REQUEST: RotationRequest = {};

/** True when the request asks for nothing beyond the stack file. */
export function isEmptyRequest(request: RotationRequest): boolean {
    return (
        request.rotate === undefined &&
        request.rollback === undefined &&
        request.retire === undefined &&
        request.restart === undefined &&
        request.adopt === undefined &&
        request.firstDeployment !== true
    );
}

/** The JSON the CLI puts in {@link REQUEST_ENV}. */
export function encodeRequest(request: RotationRequest): string {
    return JSON.stringify(request);
}

/** Parses the request JSON the CLI passes in {@link REQUEST_ENV}; absent means {@link NO_REQUEST}. */
export function parseRequest(json: string | undefined): RotationRequest {
    if (json === undefined || json.trim() === "") {
        return NO_REQUEST;
    }
    let value: unknown;
    try {
        value = JSON.parse(json);
    } catch {
        throw new RotationInputError(REQUEST_ENV, `environment variable \`${REQUEST_ENV}\` is not valid JSON`);
    }
    const result = requestSchema.safeParse(value);
    if (!result.success) {
        throw toInputError(`${REQUEST_ENV}.`, result.error.issues);
    }
    return result.data;
}
