/**
 * The rotation state the program leaves as a stack output and reads back on its next run, validated. Pure.
 */
import { z } from "zod";
import { GROUPS, Group, SLOTS } from "./catalog";
import { PROVIDERS, RESTART_SCOPES } from "./config";
import { RotationInputError } from "./errors";
import { RotationState, STATE_SCHEMA } from "./plan";

/** The stack output the program reads back on its next run. */
export const STATE_OUTPUT = "rotationState";

const slotStamp = z.string().nullable();
const groupStateSchema = z.object({
    stamp: z.string(),
    active: z.enum(SLOTS),
    slots: z.object({ a: slotStamp, b: slotStamp }),
    rolledBack: z.boolean(),
    held: z.partialRecord(z.enum(PROVIDERS), z.enum(SLOTS)),
    changedAt: z.string(),
});
const stateSchema = z.object({
    schema: z.literal(STATE_SCHEMA),
    groups: z.object(Object.fromEntries(GROUPS.map((g) => [g, groupStateSchema])) as Record<Group, typeof groupStateSchema>),
    secrets: z.object({ aws: z.record(z.string(), z.string()), k8s: z.record(z.string(), z.string()) }),
    consumers: z.record(z.string(), z.string()),
    health: z.string(),
    restarts: z.partialRecord(z.enum(RESTART_SCOPES), z.string()),
});

/**
 * Validates the state read back from the last run. A state that cannot be read is an error, never "first
 * deployment": guessing would regenerate a slot that consumers still hold.
 */
export function parseState(value: unknown): RotationState {
    const result = stateSchema.safeParse(value);
    if (!result.success) {
        throw new RotationInputError(
            STATE_OUTPUT,
            `the stack output \`${STATE_OUTPUT}\` left by the last run is not a schema ${STATE_SCHEMA} rotation state; refusing to guess which slots are in use`,
        );
    }
    return result.data as RotationState;
}

