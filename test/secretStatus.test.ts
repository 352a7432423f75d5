/**
 * The pure status of one secret (automation/secretStatus.ts): what the stack last did beside what AWS holds, and the
 * problems that put it out of policy. Table-driven over DATABASE_URL (group database).
 */
import type { SecretListEntry } from "@aws-sdk/client-secrets-manager";
import { describe, expect, it } from "vitest";
import { GROUPS } from "../rotation/catalog";
import { GroupState, RotationState, STATE_VERSION } from "../rotation/state";
import { SecretStatus, secretStatuses } from "../automation/secretStatus";

const PREFIX = "buywhere/staging/";
const NOW = new Date("2026-11-25T12:00:00.000Z");
const CURRENT = "11111111-1111-1111-1111-111111111111";
const OLDER = "22222222-2222-2222-2222-222222222222";

function group(over: Partial<GroupState> = {}): GroupState {
    return {
        stamp: "2026-11",
        active: "b",
        generation: { a: "initial", b: "g1" },
        activeSince: { a: "2026-10", b: "2026-11" },
        rolledBack: false,
        held: {},
        changedAt: "2026-11-10T00:00:00.000Z",
        ...over,
    };
}

function state(database: GroupState): RotationState {
    const groups = Object.fromEntries(GROUPS.map((g) => [g, g === "database" ? database : group()])) as RotationState["groups"];
    return { version: STATE_VERSION, serial: 1, groups, secrets: { aws: {}, k8s: {} }, writes: { aws: {}, k8s: {} }, consumers: {}, health: "", restartStamps: {} };
}

const listed = (stages: Record<string, string[]>, lastChanged = "2026-11-10T00:05:00.000Z"): SecretListEntry => ({
    Name: `${PREFIX}DATABASE_URL`,
    SecretVersionsToStages: stages,
    LastChangedDate: new Date(lastChanged),
});
const bothVersions = listed({ [CURRENT]: ["AWSCURRENT"], [OLDER]: ["AWSPREVIOUS"] });

interface Case {
    readonly state?: RotationState;
    readonly entry?: SecretListEntry;
    /** The AWS version the stack's outputs say it wrote. */
    readonly written?: string;
    readonly policy?: string;
    readonly expected: Partial<SecretStatus>;
}

describe("secretStatuses", () => {
    it.each<[string, Case]>([
        [
            "in policy: rotated this month, AWSCURRENT is what the stack wrote, AWSPREVIOUS kept",
            {
                state: state(group()),
                entry: bothVersions,
                written: CURRENT,
                expected: {
                    stamp: "2026-11",
                    activeSlot: "b",
                    lastRotation: "2026-11-10T00:00:00.000Z",
                    ageDays: 15,
                    policy: "monthly",
                    nextDue: "2026-12-10T00:00:00.000Z",
                    overdue: false,
                    aws: { exists: true, currentVersionId: CURRENT, lastChanged: "2026-11-10T00:05:00.000Z", hasPrevious: true },
                    drift: false,
                    problems: [],
                },
            },
        ],
        [
            "never deployed",
            {
                entry: bothVersions,
                expected: { stamp: null, activeSlot: null, lastRotation: null, ageDays: null, nextDue: null, overdue: false, held: {}, problems: ["never rotated by this stack"] },
            },
        ],
        ["missing in AWS", { state: state(group()), written: CURRENT, expected: { aws: { exists: false, currentVersionId: null, lastChanged: null, hasPrevious: false }, drift: false, problems: ["missing in AWS"] } }],
        [
            "drifted: someone put a value outside the rotation",
            { state: state(group()), entry: bothVersions, written: OLDER, expected: { drift: true, problems: ["drifted: AWSCURRENT is not the version the stack wrote"] } },
        ],
        ["no version recorded by the stack: no drift claimed", { state: state(group()), entry: bothVersions, expected: { drift: false, problems: [] } }],
        ["no AWSPREVIOUS yet", { state: state(group()), entry: listed({ [CURRENT]: ["AWSCURRENT"] }), written: CURRENT, expected: { aws: { exists: true, currentVersionId: CURRENT, lastChanged: "2026-11-10T00:05:00.000Z", hasPrevious: false }, problems: [] } }],
        [
            "overdue: monthly, last rotated 2026-10-20",
            {
                state: state(group({ changedAt: "2026-10-20T00:00:00.000Z" })),
                entry: bothVersions,
                written: CURRENT,
                expected: { ageDays: 36, nextDue: "2026-11-20T00:00:00.000Z", overdue: true, problems: ["overdue since 2026-11-20T00:00:00.000Z"] },
            },
        ],
        [
            "due exactly now counts as overdue",
            { state: state(group({ changedAt: "2026-10-25T12:00:00.000Z" })), entry: bothVersions, written: CURRENT, expected: { overdue: true, problems: ["overdue since 2026-11-25T12:00:00.000Z"] } },
        ],
        [
            "quarterly policy: the same date is not overdue",
            { state: state(group({ changedAt: "2026-10-20T00:00:00.000Z" })), entry: bothVersions, written: CURRENT, policy: "quarterly", expected: { policy: "quarterly", nextDue: "2027-01-20T00:00:00.000Z", overdue: false, problems: [] } },
        ],
        [
            "held back by an AWS-only rotation",
            { state: state(group({ held: { k8s: "a" } })), entry: bothVersions, written: CURRENT, expected: { held: { k8s: "a" }, problems: ["k8s held on slot a"] } },
        ],
        [
            "every problem at once, in a fixed order",
            {
                state: state(group({ changedAt: "2026-09-01T00:00:00.000Z", held: { aws: "b" } })),
                written: CURRENT,
                expected: { problems: ["missing in AWS", "overdue since 2026-10-01T00:00:00.000Z", "aws held on slot b"] },
            },
        ],
    ])("%s", (_, c) => {
        const outputs = c.written === undefined ? {} : { secrets: { DATABASE_URL: { awsVersionId: c.written } } };
        const statuses = secretStatuses(c.state, outputs, c.entry ? [c.entry] : [], PREFIX, { database: c.policy ?? "monthly" }, NOW);
        const status = statuses.find((s) => s.name === "DATABASE_URL")!;
        expect(status).toMatchObject({ name: "DATABASE_URL", group: "database", awsSecretId: `${PREFIX}DATABASE_URL`, ...c.expected });
    });

    it("one status per catalog secret, matched to the listing by its full name under the prefix", () => {
        const elsewhere = { ...bothVersions, Name: `other-team/DATABASE_URL` };
        const statuses = secretStatuses(state(group()), {}, [elsewhere], PREFIX, {}, NOW);
        expect(statuses.map((s) => s.name)).toContain("BUYWHERE_API_KEY");
        expect(new Set(statuses.map((s) => s.name)).size).toBe(statuses.length);
        expect(statuses.every((s) => !s.aws.exists)).toBe(true);
        expect(statuses.find((s) => s.name === "DATABASE_URL")!.policy).toBe("monthly"); // a group missing from the policy is monthly
    });
});
