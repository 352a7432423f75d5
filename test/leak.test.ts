/**
 * Leak test: run the program under mocks, collect every credential it generated and every value it published,
 * and scan everything that is not a secret — stack outputs, log lines, error text, and every registered input
 * outside a secret wrapper — for each value in plain, URL-encoded and base64 form.
 */
import { describe, expect, it } from "vitest";
import { encodeRequest } from "../rotation/request";
import { SECRET_SIG, leakForms as forms } from "./support/fixtures";
import { ADMIN_ENV, Run, T, ofType, runProgram, runProgramExpectingFailure } from "./support/pulumiProgram";

/** Every credential-bearing value of a run: generated randoms and published secret strings. */
function secretValues(run: Run): string[] {
    const published = ofType(run, T.secretVersion)
        .filter((v) => !v.inputs.secretId.endsWith("POSTGRES_USER")) // a role name, public by design
        .map((v) => v.inputs.secretString as string);
    const values = [...new Set([...run.generated, ...published, ...Object.values(ADMIN_ENV)])];
    // 10 passwords, 2 Cloudflare token values, 6 published values that are not one of those, 4 admin credentials
    expect(values.length).toBeGreaterThanOrEqual(22);
    return values;
}

/** String leaves of serialized inputs that are not inside a secret wrapper. */
function plainLeaves(value: unknown, path = ""): [string, string][] {
    if (typeof value === "string") return [[path, value]];
    if (Array.isArray(value)) return value.flatMap((v, i) => plainLeaves(v, `${path}[${i}]`));
    if (value && typeof value === "object") {
        if ((value as Record<string, unknown>)[SECRET_SIG] !== undefined) return [];
        return Object.entries(value).flatMap(([k, v]) => plainLeaves(v, path ? `${path}.${k}` : k));
    }
    return [];
}

function hits(haystack: string, needles: string[]): string[] {
    return needles.filter((n) => haystack.includes(n));
}

describe("no secret leaves the secret channels", () => {
    it("is absent from stack outputs, logs, and every non-secret input, across a rotation", async () => {
        const initial = await runProgram({ stack: "staging" });
        const rotated = await runProgram({
            stack: "staging",
            lastState: initial.outputs.rotationState,
            config: { "rotation:stamp": "2026-12", "rotation:groupStamps": { jwt: "2026-11-20T0900Z" } }, // a warning is logged
            now: new Date("2026-12-01T00:05:00Z"),
        });
        expect(rotated.logs).toContain("has no effect");
        for (const run of [initial, rotated]) {
            const needles = forms(secretValues(run));
            expect(hits(JSON.stringify(run.outputs), needles)).toEqual([]);
            expect(hits(run.logs, needles)).toEqual([]);
            for (const r of run.registrations) {
                for (const [path, leaf] of plainLeaves(r.raw)) {
                    expect(hits(leaf, needles), `${r.name}.${path}`).toEqual([]);
                }
            }
        }
    });

    it("the scan can fail: it finds a secret that is placed in plain sight", async () => {
        const run = await runProgram({ stack: "staging" });
        const [value] = secretValues(run);
        expect(hits(JSON.stringify({ ...run.outputs, oops: Buffer.from(value).toString("base64") }), forms([value]))).toContain(Buffer.from(value).toString("base64"));
    });

    it("is absent from the error text of a refused run that follows a rotation", async () => {
        const initial = await runProgram({ stack: "staging", config: { "rotation:groupStamps": { database: "2026-11-25T1030Z" } } });
        const { error } = await runProgramExpectingFailure({
            stack: "staging",
            lastState: initial.outputs.rotationState,
            env: { ...ADMIN_ENV, ROTATION_REQUEST: encodeRequest({ rotate: { groups: ["database"], stamp: "2026-11-24T1030Z", scheduled: false } }) },
        });
        expect(error.message).toMatch(/stamps never go backwards/);
        expect(hits(`${error.message}\n${error.stack}`, forms(secretValues(initial)))).toEqual([]);
    });
});
