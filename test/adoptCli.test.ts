/**
 * The CLI's side of adoption (issue 10): `adopt` reads what it takes from Secrets Manager (moto, started here) before
 * the engine runs and lists it; bad input is exit 2 with one line and nothing run; any other command on a stack without
 * state says what to run. The engine is the STAND-IN (test/support/standInEngine.ts); the program's own reading and
 * judging of both stores is proven under the engine emulator in test/adopt.test.ts.
 */
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { secretsToAdopt } from "../rotation/adoption";
import { CliResult, projectWith, runCli, sandbox, seedDeployed } from "./support/cli";
import { useMoto } from "./support/servers";
import { stackConfig } from "./support/pulumiProgram";

const aws = useMoto();

/** A project copy whose staging stack file (no first-deployment opt-in) uses its own prefix, and a stand-in sandbox. */
function world() {
    const prefix = `buywhere/adopt-${randomUUID().slice(0, 8)}/`;
    const { "rotation:firstDeployment": _, ...staging } = stackConfig("staging");
    const config = { ...staging, "rotation:aws": { region: "ap-southeast-1", secretPrefix: prefix } };
    const project = projectWith({ "Pulumi.staging.yaml": stringify({ config }) });
    const s = sandbox();
    const versions: Record<string, string> = {};
    return {
        prefix,
        s,
        project,
        versions,
        async create(names: readonly string[]) {
            for (const name of names) {
                const value = `legacy-${name}-${randomUUID()}`;
                versions[name] = (await aws.sm.send(new CreateSecretCommand({ Name: `${prefix}${name}`, SecretString: value }))).VersionId!;
            }
        },
        run: (args: readonly string[]): Promise<CliResult> => runCli(args, { ...s.env, ...aws.moto.env }, undefined, join(project, "test", "support", "standInBin.ts")),
    };
}

describe("adopt through the CLI (stand-in engine, moto)", () => {
    it("adopt --dry-run lists every secret it takes with its AWSCURRENT version id, and previews (nothing changed)", async () => {
        const w = world();
        // The seed's ten: no POSTGRES_USER (DATABASE_URL's user is adopted instead).
        await w.create(secretsToAdopt().filter((n) => n !== "POSTGRES_USER"));
        const r = await w.run(["adopt", "--dry-run", "--stack", "staging"]);
        expect(r.code).toBe(0);
        expect(r.stdout).not.toContain("POSTGRES_USER version");
        expect(r.stdout).toMatch(/^Would do \(nothing was changed\): `adopt --dry-run` on stack staging/);
        for (const name of Object.keys(w.versions)) expect(r.stdout).toContain(`${name} version ${w.versions[name]}`);
        expect(r.stdout).toContain("nothing is published differently and nothing restarts");
        expect(w.s.calls().map((c) => c.op)).toEqual(["outputs", "preview"]);
        expect(w.s.calls()[1].request).toEqual({ adopt: {} });
    }, 60_000);

    it("a secret missing from Secrets Manager: exit 2, one line naming it, nothing run", async () => {
        const w = world();
        await w.create(secretsToAdopt().filter((n) => n !== "TYPESENSE_API_KEY"));
        const r = await w.run(["adopt", "--stack", "staging"]);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(
            `error: cannot adopt: Secrets Manager secret \`${w.prefix}TYPESENSE_API_KEY\` has no current value (AWSCURRENT); adopt takes the values in use, so every secret must exist\n`,
        );
        expect(w.s.calls().map((c) => c.op)).toEqual(["outputs"]);
    }, 60_000);

    it("a stack without state: every other command says to adopt or to pass --first-deployment (exit 2, nothing run)", async () => {
        const w = world();
        for (const args of [["rotate", "--service", "jwt"], ["rotate-all"], ["restart"]]) {
            const r = await w.run([...args, "--stack", "staging"]);
            expect(r.code).toBe(2);
            expect(r.stdout).toBe("");
            expect(r.stderr).toBe(
                "error: the stack has no recorded state, and a first deployment would replace every credential in use: run `secrets-rotation adopt --stack staging` to take over the values in use today, or, only where nothing uses these secrets yet, add --first-deployment\n",
            );
        }
        expect(w.s.calls().every((c) => c.op === "outputs")).toBe(true);
        // adopt on a stack that has state: refused by the planner before anything runs.
        seedDeployed(w.s, "staging", w.project);
        const again = await w.run(["adopt", "--stack", "staging"]);
        expect([again.code, again.stdout]).toEqual([2, ""]);
        expect(again.stderr).toBe("error: the stack already has recorded state (commit 1): adopt is only for a stack's first deployment; rotate as usual\n");
        expect(w.s.calls().every((c) => c.op === "outputs")).toBe(true);
        // adopt takes no group, provider, stamp or --first-deployment.
        for (const bad of [["--service", "jwt"], ["--first-deployment"]]) {
            const r = await w.run(["adopt", ...bad, "--stack", "staging"]);
            expect(r.code).toBe(2);
            expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
        }
    }, 60_000);
});
