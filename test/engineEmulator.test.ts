/**
 * The ENGINE EMULATOR (test/support/engineEmulator.ts; it is not Pulumi) against the engine's rules, first with
 * purpose-built programs whose commands leave marks in their project directory, then with the real rotation
 * program against a real moto, PostgreSQL 15 and Redis started here (127.0.0.1 only), a Typesense keys-API double
 * and a local health endpoint (the world: test/support/rotationWorld.ts).
 */
import { GetSecretValueCommand, ListSecretVersionIdsCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineEmulator, UpdateResult } from "./support/engineEmulator";
import { CONTEXT, RotationWorld, SEED_SECRETS, WorldRunOptions, startRotationWorld } from "./support/rotationWorld";

/* ---------------------------------------------------------------------------------------------------------------- */
/* purpose-built programs                                                                                           */
/* ---------------------------------------------------------------------------------------------------------------- */

/** A throwaway project: Pulumi.yaml, a `dev` stack file; its commands run (and leave marks) in it. */
function tinyProject(stackConfig: Record<string, string> = { "emu:stamp": "1" }): string {
    const dir = mkdtempSync(join(tmpdir(), "emu-project-"));
    writeFileSync(join(dir, "Pulumi.yaml"), "name: emu-tiny\nruntime: nodejs\n");
    writeFileSync(join(dir, "Pulumi.dev.yaml"), `config:\n${Object.entries(stackConfig).map(([k, v]) => `  ${k}: "${v}"\n`).join("")}`);
    return dir;
}

function tinyEmulator(projectDir: string): EngineEmulator {
    return new EngineEmulator({ backendDir: mkdtempSync(join(tmpdir(), "emu-backend-")), projectDir });
}

const lines = (dir: string, file: string): string[] => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8").trim().split("\n") : []);
const customOps = (r: UpdateResult) => r.operations.map((o) => `${o.op} ${o.name}${o.failed ? " (failed)" : ""}`);
const values = (r: { outputs: UpdateResult["outputs"] }) => Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, v.value]));
const stamp = () => new pulumi.Config("emu").require("stamp");

describe("engine emulator (not Pulumi): steps, replacement order and state carried from run to run", () => {
    const program = () => {
        const keep = new random.RandomPassword("keep", { length: 16, special: false, keepers: { fixed: "yes" } });
        const pw = new random.RandomPassword("pw", { length: 16, special: false, keepers: { stamp: stamp() } });
        // create-before-delete (the default) and delete-before-replace, each logging its create and delete.
        const use = new command.local.Command("use", {
            create: `echo run >> runs.log; echo create-use-$STAMP >> order.log; printf %s "$PW" | wc -c`,
            delete: "echo delete-use >> order.log",
            environment: { PW: pw.result, STAMP: stamp() },
            triggers: [stamp()],
        });
        new command.local.Command(
            "dbr",
            { create: "echo create-dbr-$STAMP >> order.log", delete: "echo delete-dbr >> order.log", environment: { STAMP: stamp() }, triggers: [stamp()] },
            { deleteBeforeReplace: true, dependsOn: [use] },
        );
        return { keep: keep.result, pw: pw.result, length: use.stdout };
    };
    const dir = tinyProject();
    const emu = tinyEmulator(dir);
    let first: UpdateResult;

    it("a first update creates every resource in dependency order and records the outputs the program sent", async () => {
        first = await emu.up("dev", { program });
        expect(first.result).toBe("succeeded");
        expect(first.changes).toMatchObject({ create: 5, same: 0 }); // the root stack and four resources
        expect([...customOps(first)].sort()).toEqual(["create dbr", "create keep", "create pw", "create use"]);
        expect(customOps(first).indexOf("create use")).toBeGreaterThan(customOps(first).indexOf("create pw"));
        expect(customOps(first).indexOf("create dbr")).toBeGreaterThan(customOps(first).indexOf("create use"));
        // The command ran for real with the password in its environment: 16 characters.
        expect(first.outputs.length).toEqual({ value: "16", secret: true }); // a secret input taints every output
        expect(first.outputs.pw.secret).toBe(true);
        expect(String(first.outputs.pw.value)).toMatch(/^[A-Za-z0-9]{16}$/);
        expect(lines(dir, "runs.log")).toEqual(["run"]);
        expect(emu.outputs("dev")).toEqual(first.outputs);
    });

    it("a second update with nothing changed is all `same`: no operation, no command, same values", async () => {
        const again = await emu.up("dev", { program });
        expect(again.result).toBe("succeeded");
        expect(again.changes).toMatchObject({ same: 5, create: 0, update: 0, replace: 0, delete: 0 });
        expect(again.operations).toEqual([]);
        expect(lines(dir, "runs.log")).toEqual(["run"]);
        expect(values(again)).toEqual(values(first));
    });

    it("a keeper change replaces only that password, create-before-delete, and reruns the commands that use it", async () => {
        const r = await emu.up("dev", { program, config: { "emu:stamp": "2" } });
        expect(r.result).toBe("succeeded");
        expect(r.changes).toMatchObject({ replace: 3, same: 2 });
        expect(r.outputs.keep.value).toBe(first.outputs.keep.value); // unchanged: the old value is kept
        expect(r.outputs.pw.value).not.toBe(first.outputs.pw.value);
        const ops = customOps(r);
        expect(ops.indexOf("replace pw")).toBeLessThan(ops.indexOf("delete-replaced pw"));
        expect(ops.indexOf("replace pw")).toBeLessThan(ops.indexOf("replace use"));
        expect(lines(dir, "runs.log")).toEqual(["run", "run"]);
        // create-before-delete for `use`; delete-before-replace for `dbr`.
        expect(lines(dir, "order.log")).toEqual(["create-use-1", "create-dbr-1", "create-use-2", "delete-dbr", "create-dbr-2", "delete-use"]);
        const state = emu.resources("dev")!;
        expect(state.filter((s) => s.delete)).toEqual([]);
        expect(state.map((s) => s.urn.split("::").pop())).toEqual(["emu-tiny-dev", "keep", "pw", "use", "dbr"]);
    });

    it("preview computes the same change summary, runs nothing and records nothing", async () => {
        const before = readFileSync(join(emu.options.backendDir, ".pulumi", "stacks", "emu-tiny", "dev.json"), "utf8");
        const preview = await emu.preview("dev", { program, config: { "emu:stamp": "3" } });
        expect(preview.result).toBe("succeeded");
        expect(lines(dir, "runs.log")).toHaveLength(2);
        expect(readFileSync(join(emu.options.backendDir, ".pulumi", "stacks", "emu-tiny", "dev.json"), "utf8")).toBe(before);
        expect(emu.history("dev")).toHaveLength(3);
        const up = await emu.up("dev", { program, config: { "emu:stamp": "3" } });
        expect(preview.changes).toEqual(up.changes);
        expect(preview.steps.map((s) => `${s.op} ${s.name}`).sort()).toEqual(up.steps.map((s) => `${s.op} ${s.name}`).sort());
    });

    it("state is file-backed: a second emulator on the same backend continues from it; a held lock refuses the update", async () => {
        const other = new EngineEmulator({ backendDir: emu.options.backendDir, projectDir: dir });
        const r = await other.up("dev", { program, config: { "emu:stamp": "3" } });
        expect(r.changes).toMatchObject({ same: 5 });
        expect(values(r)).toEqual(values({ outputs: emu.outputs("dev") }));
        const strict = new EngineEmulator({ backendDir: emu.options.backendDir, projectDir: dir, autoCreateStacks: false });
        await expect(strict.up("qa", { program })).rejects.toThrow("no stack named 'organization/emu-tiny/qa' found");
        const release = other.backend.lock("dev"); // as another process's `pulumi up` would hold it
        try {
            await expect(emu.up("dev", { program })).rejects.toThrow(/^the stack is currently locked by 1 lock\(s\)\. Either wait/);
        } finally {
            release();
        }
    });
});

describe("engine emulator (not Pulumi): a failed update", () => {
    /**
     * `slow` runs 0.6 s; `failing` fails after 0.2 s when asked; `after-failing` depends on `failing`, `after-slow` on
     * `slow`. The program exports `slow` and `after-slow`, or (shape `early`) only what is known at once.
     */
    const program = () => {
        const cfg = new pulumi.Config("emu");
        const slow = new command.local.Command("slow", { create: "sleep 0.6; echo slow-$STAMP >> marks.log; echo slow", environment: { STAMP: stamp() }, triggers: [stamp()] });
        const failing = new command.local.Command("failing", {
            create: 'sleep 0.2; echo "refused by the source" >&2; [ "$FAIL" != yes ] || exit 3',
            environment: { FAIL: cfg.get("fail") ?? "no" },
            triggers: [stamp()],
        });
        const afterFailing = new command.local.Command("after-failing", { create: "echo after-failing >> marks.log", triggers: [stamp()] }, { dependsOn: [failing] });
        const afterSlow = new command.local.Command("after-slow", { create: "echo after-slow >> marks.log; echo done", triggers: [stamp()] }, { dependsOn: [slow] });
        if (cfg.get("shape") === "early") return { stamp: stamp() };
        if (cfg.get("shape") === "wide") return { stamp: stamp(), onlyInOld: "kept" };
        return { slow: slow.stdout, afterSlow: afterSlow.stdout, afterFailing: afterFailing.stdout, stamp: stamp() };
    };

    it("stops the update: the failing operation's error, in-flight work finishes, nothing that had not started starts; nothing sent keeps the old outputs", async () => {
        const dir = tinyProject();
        const emu = tinyEmulator(dir);
        const ok = await emu.up("dev", { program });
        expect(ok.result).toBe("succeeded");
        expect(lines(dir, "marks.log").sort()).toEqual(["after-failing", "after-slow", "slow-1"]);

        const failed = await emu.up("dev", { program, config: { "emu:stamp": "2", "emu:fail": "yes" } });
        expect(failed.result).toBe("failed");
        // pulumi-command's error shape: "%w: running %q:\n%s".
        expect(failed.error).toBe('exit status 3: running "sleep 0.2; echo \\"refused by the source\\" >&2; [ \\"$FAIL\\" != yes ] || exit 3":\nrefused by the source\n');
        expect(failed.errors).toHaveLength(1);
        // `slow` was in flight when `failing` failed: it finished, and the state records it. Nothing after either started.
        expect(customOps(failed)).toEqual(["replace failing (failed)", "replace slow"]);
        expect(lines(dir, "marks.log").sort()).toEqual(["after-failing", "after-slow", "slow-1", "slow-2"]);
        // The program's outputs needed `after-slow`: nothing was sent, so the old outputs stay as they were.
        expect(failed.sentOutputs).toBeUndefined();
        expect(failed.outputs).toEqual(ok.outputs);
        const triggers = Object.fromEntries(emu.resources("dev")!.filter((s) => s.custom && !s.delete).map((s) => [s.urn.split("::").pop(), (s.inputs.triggers as string[])[0]]));
        expect(triggers).toEqual({ slow: "2", failing: "1", "after-failing": "1", "after-slow": "1" });
        // No deletes after a failure: nothing is pending deletion except slow's old half.
        expect(emu.resources("dev")!.filter((s) => s.delete).map((s) => s.urn.split("::").pop())).toEqual(["slow"]);

        // The next update continues from that state: slow is done, the rest runs, the old half is deleted.
        const rerun = await emu.up("dev", { program, config: { "emu:stamp": "2" } });
        expect(rerun.result).toBe("succeeded");
        expect(customOps(rerun).sort()).toEqual(["delete-replaced after-failing", "delete-replaced after-slow", "delete-replaced failing", "delete-replaced slow", "replace after-failing", "replace after-slow", "replace failing"]);
        expect(values(rerun)).toMatchObject({ stamp: "2", afterSlow: "done" });
    });

    it("outputs sent before the failure are merged over the old ones; after a success they are exactly what was sent", async () => {
        const dir = tinyProject();
        const emu = tinyEmulator(dir);
        expect((await emu.up("dev", { program, config: { "emu:shape": "wide" } })).result).toBe("succeeded");
        expect(values({ outputs: emu.outputs("dev") })).toEqual({ stamp: "1", onlyInOld: "kept" });

        // Shape `early` sends {stamp} at once, 0.2 s before `failing` fails.
        const failed = await emu.up("dev", { program, config: { "emu:stamp": "2", "emu:fail": "yes", "emu:shape": "early" } });
        expect(failed.result).toBe("failed");
        expect(failed.sentOutputs).toEqual({ stamp: { value: "2", secret: false } });
        expect(values(failed)).toEqual({ stamp: "2", onlyInOld: "kept" }); // old outputs, overwritten key by key

        const ok = await emu.up("dev", { program, config: { "emu:stamp": "2", "emu:shape": "early" } });
        expect(ok.result).toBe("succeeded");
        expect(values(ok)).toEqual({ stamp: "2" }); // success: exactly what was sent
    });

    it("a program error fails the update before anything changes; its empty outputs leave the old ones", async () => {
        const dir = tinyProject();
        const emu = tinyEmulator(dir);
        await emu.up("dev", { program, config: { "emu:shape": "wide" } });
        const bad = await emu.up("dev", {
            program: () => {
                throw new pulumi.RunError("`emu:stamp` must be later than the last one");
            },
        });
        expect(bad.result).toBe("failed");
        expect(bad.error).toBe("`emu:stamp` must be later than the last one");
        expect(bad.sentOutputs).toEqual({}); // runtime/stack.js registers `{}` in its `finally`
        expect(values(bad)).toEqual({ stamp: "1", onlyInOld: "kept" });
        expect(bad.changes.delete).toBe(0); // a failed update deletes nothing
        expect(emu.resources("dev")!.filter((s) => s.custom)).toHaveLength(4);
    });

    it("failAt fails a chosen resource (optionally after its side effect); interruptAfter cancels like Ctrl-C", async () => {
        const dir = tinyProject();
        const emu = tinyEmulator(dir);
        await emu.up("dev", { program, config: { "emu:shape": "early" } });
        const injected = await emu.up("dev", { program, config: { "emu:stamp": "2", "emu:shape": "early" }, failAt: { resource: "after-slow", after: true } });
        expect(injected.result).toBe("failed");
        expect(injected.error).toContain("emulated failure injected at urn:pulumi:dev::emu-tiny::command:local:Command::after-slow (after the operation)");
        expect(lines(dir, "marks.log").filter((l) => l === "after-slow")).toHaveLength(2); // the side effect happened...
        expect(emu.resources("dev")!.find((s) => s.urn.endsWith("::after-slow"))!.inputs.triggers).toEqual(["1"]); // ...the state does not know
        expect(injected.unusedFailAt).toEqual([]);

        const cancelled = await emu.up("dev", { program, config: { "emu:stamp": "3", "emu:shape": "early" }, interruptAfter: 1 });
        expect(cancelled.result).toBe("cancelled");
        expect(cancelled.errors).toEqual([]);
        // `failing` (0.2 s) completed first and triggered the cancel; `slow` was in flight and finished; nothing else started.
        expect(customOps(cancelled)).toEqual(["replace failing", "replace slow"]);
        expect(cancelled.changes.delete).toBe(0);
        // A cancelled update is not errored: what was sent replaces the outputs (`deployment_executor.go`).
        expect(values(cancelled)).toEqual({ stamp: "3" });
    });
});

describe("engine emulator (not Pulumi): deletes at the end of a successful update", () => {
    it("retainOnDelete skips the provider's delete, a plain resource is deleted, a protected one fails the update", async () => {
        const dir = tinyProject();
        const emu = tinyEmulator(dir);
        const v1 = () => {
            new command.local.Command("retained", { create: "true", delete: "touch retained.deleted" }, { retainOnDelete: true });
            new command.local.Command("plain", { create: "true", delete: "touch plain.deleted" });
            new command.local.Command("guarded", { create: "true", delete: "touch guarded.deleted" }, { protect: true });
            return {};
        };
        expect((await emu.up("dev", { program: v1 })).result).toBe("succeeded");
        const v2 = () => ({});
        const r = await emu.up("dev", { program: v2 });
        expect(r.result).toBe("failed");
        expect(r.errors.map((e) => e.message.split("\n")[0])).toEqual(['resource "urn:pulumi:dev::emu-tiny::command:local:Command::guarded" cannot be deleted']);
        expect(existsSync(join(dir, "plain.deleted"))).toBe(true);
        expect(existsSync(join(dir, "retained.deleted"))).toBe(false);
        expect(existsSync(join(dir, "guarded.deleted"))).toBe(false);
        expect(r.changes.delete).toBe(2); // both left the state; only `plain` ran its delete command
        expect(emu.resources("dev")!.map((s) => s.urn.split("::").pop())).toEqual(["emu-tiny-dev", "guarded"]);
    });
});

describe("engine emulator (not Pulumi): Kubernetes objects in the in-memory store, validated against the official schemas", () => {
    const b64 = (v: string) => Buffer.from(v, "utf8").toString("base64");
    const seeded = () => {
        const dir = tinyProject();
        const emu = tinyEmulator(dir);
        emu.kubernetes.createNamespace("test", "ns");
        emu.kubernetes.put("test", { apiVersion: "v1", kind: "Secret", metadata: { name: "app", namespace: "ns" }, type: "Opaque", data: { KEY: b64("by-hand"), OTHER: b64("other") } });
        return emu;
    };
    const patch = (opts: { force?: boolean; value?: string }) => () => {
        const provider = new k8s.Provider("k8s", { context: "test", enableServerSideApply: true });
        const annotations = opts.force ? { "pulumi.com/patchForce": "true" } : undefined;
        new k8s.core.v1.SecretPatch("patch", { metadata: { name: "app", namespace: "ns", annotations }, data: { KEY: opts.value ?? b64(stamp()) } }, { provider });
        return {};
    };

    it("a SecretPatch is a server-side apply: a field kubectl owns conflicts, patchForce takes it over, other keys stay", async () => {
        const emu = seeded();
        const conflict = await emu.up("dev", { program: patch({}) });
        expect(conflict.result).toBe("failed");
        expect(conflict.error).toContain('Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.KEY');
        const forced = await emu.up("dev", { program: patch({ force: true }) });
        expect(forced.result).toBe("succeeded");
        const live = emu.kubernetes.get("test", "v1", "Secret", "ns", "app")!;
        expect(live.data).toEqual({ KEY: b64("1"), OTHER: b64("other") });
        expect(emu.kubernetes.managers("test", "v1", "Secret", "ns", "app")[".data.KEY"]).toMatch(/^pulumi-kubernetes-[0-9a-f]{8}$/);
        expect(emu.kubernetes.managers("test", "v1", "Secret", "ns", "app")[".data.OTHER"]).toBe("kubectl-create");
        const invalid = await emu.up("dev", { program: patch({ force: true, value: "not base64!" }) });
        expect(invalid.error).toBe('Secret "app" is invalid: data/data/KEY must match format "byte"');
        expect(emu.kubernetes.get("test", "v1", "Secret", "ns", "app")!.data.KEY).toBe(b64("1")); // an invalid write changes nothing
    });

    it("a whole Secret is replaced delete-before-replace when its data changes; retained on delete, its replacement finds it still there", async () => {
        const owned = (retainOnDelete: boolean) => () => {
            const provider = new k8s.Provider("k8s", { context: "test", enableServerSideApply: true });
            new k8s.core.v1.Secret("owned", { metadata: { name: "owned", namespace: "ns" }, type: "Opaque", data: { V: b64(stamp()) } }, { provider, retainOnDelete });
            return {};
        };
        for (const retain of [false, true]) {
            const emu = seeded();
            expect((await emu.up("dev", { program: owned(retain) })).result).toBe("succeeded");
            const next = await emu.up("dev", { program: owned(retain), config: { "emu:stamp": "2" } });
            expect(next.steps.filter((st) => st.name === "owned").map((st) => st.op)).toEqual(retain ? ["delete-replaced"] : ["delete-replaced", "replace"]);
            if (retain) {
                expect(next.result).toBe("failed");
                expect(next.error).toMatch(/^secrets "owned" already exists\n\nThe resource already exists in the cluster/);
                expect(emu.kubernetes.get("test", "v1", "Secret", "ns", "owned")!.data.V).toBe(b64("1"));
            } else {
                expect(next.result).toBe("succeeded");
                expect(emu.kubernetes.get("test", "v1", "Secret", "ns", "owned")!.data.V).toBe(b64("2"));
            }
        }
    });
});

describe("engine emulator (not Pulumi): stack references", () => {
    it("read the named stack's recorded outputs, in preview too; a stack never updated has none", async () => {
        const dir = tinyProject();
        writeFileSync(join(dir, "Pulumi.other.yaml"), "config: {}\n");
        const emu = tinyEmulator(dir);
        const reader = async () => {
            const ref = new pulumi.StackReference("ref", { name: "organization/emu-tiny/dev" });
            return { seen: (await ref.getOutputValue("stamp")) ?? "nothing" };
        };
        expect(values(await emu.up("other", { program: reader }))).toEqual({ seen: "nothing" });
        await emu.up("dev", { program: () => ({ stamp: stamp() }) });
        const preview = await emu.preview("other", { program: reader });
        expect(preview.steps.find((s) => s.type === "pulumi:pulumi:StackReference")?.op).toBe("read");
        expect(values(await emu.up("other", { program: reader }))).toEqual({ seen: "1" });
    });
});

/* ---------------------------------------------------------------------------------------------------------------- */
/* the real rotation program                                                                                        */
/* ---------------------------------------------------------------------------------------------------------------- */

describe("engine emulator (not Pulumi): the real rotation program against moto, PostgreSQL and Redis", () => {
    let world: RotationWorld;
    let emu: EngineEmulator;
    let sm: SecretsManagerClient;
    let typesense: RotationWorld["typesense"];
    let config: Record<string, unknown>;

    beforeAll(async () => {
        world = await startRotationWorld();
        ({ emu, sm, typesense, config } = world);
    }, 120_000);

    afterAll(async () => {
        if (world && Object.keys(world.timings).length > 0) process.stderr.write(`ENGINE-EMULATOR timings (ms): ${JSON.stringify(world.timings)}\n`);
        await world?.stop();
    });

    const up = (label: string, opts: WorldRunOptions & { now: Date }) => world.up(label, opts);
    const k8sSecret = () => world.k8sSecret();
    const current = (name: string) => world.awsCurrent(name);
    const canLogIn = (url: string) => world.canLogIn(url);
    const canAuth = (redisUrl: string) => world.canAuth(redisUrl);
    const DEPLOYMENTS = () => world.deployments;
    const passwords = (r: UpdateResult) => r.steps.filter((s) => s.type === "random:index/randomPassword:RandomPassword" || s.type === "cloudflare:index/accountToken:AccountToken");
    const commandsRun = (r: UpdateResult) => r.operations.filter((o) => o.type === "command:local:Command" && !o.op.startsWith("delete")).map((o) => o.name).sort();

    const NOV = new Date("2026-11-25T12:00:00Z");
    const DEC = new Date("2026-12-02T12:00:00Z");
    let deployed: UpdateResult;
    let versionsBefore: Record<string, string>;

    it("first deployment: every resource created or adopted, credentials valid at their sources, stores agree, outputs recorded", async () => {
        deployed = await up("first deployment", { now: NOV });
        expect(deployed.errors).toEqual([]);
        expect(deployed.result).toBe("succeeded");
        expect(deployed.changes.import).toBe(SEED_SECRETS.length); // existing secrets adopted, the rest created
        expect(deployed.changes.update + deployed.changes.replace + deployed.changes.delete).toBe(0);
        expect(Object.keys(deployed.outputs).sort()).toEqual(Object.keys(emu.outputs("staging")).sort());
        expect(deployed.outputs.rotationState?.value).toBeDefined();

        const published = k8sSecret();
        expect(published.SENTRY_DSN).toBe("https://sentry.example/1"); // keys we do not own are left alone
        for (const key of ["DATABASE_URL", "REDIS_URL", "JWT_SECRET_KEY", "TYPESENSE_API_KEY"]) expect(await current(key)).toBe(published[key]);
        expect(await canLogIn(published.DATABASE_URL)).toBe(true);
        expect(await canAuth(published.REDIS_URL)).toBe(true);
        expect(typesense.keys().map((k) => k.value)).toContain(published.TYPESENSE_API_KEY);
        expect(emu.cloudflare.active()).toHaveLength(2);
        for (const name of DEPLOYMENTS()) {
            const annotations = emu.kubernetes.get(CONTEXT, "apps/v1", "Deployment", "staging", name)!.spec.template.metadata.annotations;
            expect(annotations["kubectl.kubernetes.io/restartedAt"]).toMatch(/^rotation-/);
        }
    });

    it("a second run with nothing changed is all `same` and runs no command", async () => {
        const again = await up("unchanged rerun", { now: NOV });
        expect(again.result).toBe("succeeded");
        expect(again.changes).toMatchObject({ create: 0, update: 0, replace: 0, delete: 0, import: 0 });
        expect(again.operations.map((o) => o.op)).toEqual(["read"]); // the StackReference to itself, nothing else
        expect(again.outputs.rotationState).toEqual(deployed.outputs.rotationState);
        expect(again.outputs).toEqual(again.sentOutputs); // success: exactly what the program sent
    });

    let preview: Awaited<ReturnType<EngineEmulator["preview"]>>;

    it("preview of a rotation touches nothing: no command, no AWS write, no Kubernetes change, no state", async () => {
        versionsBefore = Object.fromEntries(await Promise.all(SEED_SECRETS.map(async (n) => [n, await current(n)] as const)));
        const k8sBefore = JSON.stringify(emu.kubernetes.get(CONTEXT, "v1", "Secret", "staging", "buywhere-secrets"));
        const keysBefore = typesense.keys().length;
        const history = emu.history("staging").length;
        const recorded = emu.outputs("staging");
        preview = await emu.preview("staging", { config: { ...config, "rotation:stamp": "2026-12" }, now: DEC });
        expect(preview.result).toBe("succeeded");
        expect(preview.changes.replace).toBeGreaterThan(0);
        for (const name of SEED_SECRETS) expect(await current(name)).toBe(versionsBefore[name]);
        expect(JSON.stringify(emu.kubernetes.get(CONTEXT, "v1", "Secret", "staging", "buywhere-secrets"))).toBe(k8sBefore);
        expect(typesense.keys()).toHaveLength(keysBefore);
        expect(emu.history("staging")).toHaveLength(history);
        expect(emu.outputs("staging")).toEqual(recorded);
    });

    let rotated: UpdateResult;

    it("a stamp change replaces exactly one RandomPassword per group, reruns the commands that depend on it, and keeps the other slot valid", async () => {
        const before = k8sSecret();
        rotated = await up("rotation", { config: { "rotation:stamp": "2026-12" }, now: DEC });
        expect(rotated.errors).toEqual([]);
        expect(rotated.result).toBe("succeeded");
        expect(rotated.changes).toEqual(preview.changes); // the preview predicted it
        const replaced = passwords(rotated).filter((s) => s.op === "replace").map((s) => s.name).sort();
        expect(replaced).toEqual(["api-key-slots-b", "database-slots-b", "jwt-slots-b", "r2-slots-b", "redis-slots-b", "typesense-slots-b"]);
        expect(passwords(rotated).filter((s) => s.op === "same")).toHaveLength(6); // slot a of every group kept
        // Appliers of the regenerated slots, every ECS redeploy and the health gate ran; slot a's appliers did not.
        expect(commandsRun(rotated)).toEqual(
            ["database-apply-b", "ecs-buywhere-api-staging-redeploy", "ecs-buywhere-worker-staging-redeploy", "health-check", "r2-apply-b", "redis-apply-acl", "typesense-apply-b"].sort(),
        );
        // The new R2 token was proven with signed S3 requests (the staging file grants Item Write: put/get/delete too)
        // before any store was written.
        const newToken = emu.cloudflare.active().find((t) => t.name.includes("-b-"))!;
        expect(world.r2.requests.filter((r) => r.includes(` ${newToken.id} -> `)).map((r) => r.split(" ")[0])).toEqual(["HEAD", "PUT", "GET", "DELETE"]);
        const probe = rotated.operations.findIndex((o) => o.name === "r2-apply-b");
        expect(probe).toBeGreaterThan(rotated.operations.findIndex((o) => o.name === "r2-slots-b"));
        expect(probe).toBeLessThan(rotated.operations.findIndex((o) => o.name === "aws-R2_ACCESS_KEY_ID"));
        // Create-before-delete: the old token (slot b) is revoked only after its replacement exists.
        const ops = rotated.operations.map((o) => `${o.op} ${o.name}`);
        expect(ops.indexOf("replace r2-slots-b")).toBeLessThan(ops.indexOf("delete-replaced r2-slots-b"));
        expect(emu.cloudflare.active()).toHaveLength(2);

        const after = k8sSecret();
        expect(after.DATABASE_URL).not.toBe(before.DATABASE_URL);
        expect(await canLogIn(after.DATABASE_URL)).toBe(true); // the new slot works at its source...
        expect(await canLogIn(before.DATABASE_URL)).toBe(true); // ...and pods on the old slot keep working
        expect(await canAuth(after.REDIS_URL)).toBe(true);
        expect(await canAuth(before.REDIS_URL)).toBe(true);
        expect(await current("DATABASE_URL")).toBe(after.DATABASE_URL);
        // SecretVersions are retained on delete: AWS keeps AWSPREVIOUS on the value that was current.
        const versions = await sm.send(new ListSecretVersionIdsCommand({ SecretId: "buywhere/staging/DATABASE_URL" }));
        const previous = versions.Versions!.find((v) => v.VersionStages?.includes("AWSPREVIOUS"))!;
        expect((await sm.send(new GetSecretValueCommand({ SecretId: "buywhere/staging/DATABASE_URL", VersionId: previous.VersionId }))).SecretString).toBe(before.DATABASE_URL);
        expect(rotated.outputs.rotationState.value).not.toEqual(deployed.outputs.rotationState.value);
    });

    it("a rollout that never becomes ready fails its DeploymentPatch with init errors; the next update retries it", async () => {
        const restart = { "rotation:stamp": "2026-12", "rotation:restartStamps": { k8s: "2026-12-02T1000Z" } };
        const stuck = await up("restart with a stuck rollout", {
            config: restart,
            now: DEC,
            kubernetes: { rollouts: { "staging/buywhere-api": { outcome: "stuck" } }, awaitTimeoutMs: 300 },
        });
        expect(stuck.result).toBe("failed");
        expect(stuck.errors.map((e) => e.message)).toEqual(["'buywhere-api' timed out waiting to be Ready"]);
        expect(commandsRun(stuck)).toEqual([]); // the health gate depends on every restart
        const patch = emu.resources("staging")!.find((s) => s.urn.endsWith("::k8s-staging-buywhere-api-patch"))!;
        expect(patch.initErrors?.[0]).toMatch(/^\[ProgressDeadlineExceeded\]/);
        expect(stuck.outputs.rotationState).toEqual(rotated.outputs.rotationState);

        const retried = await up("restart retried", { config: restart, now: DEC });
        expect(retried.result).toBe("succeeded");
        // Unchanged inputs, but init errors force an update (`step_generator.go`: hasInitErrors).
        expect(retried.steps.find((s) => s.name === "k8s-staging-buywhere-api-patch")?.op).toBe("update");
        expect(commandsRun(retried)).toEqual(["health-check"]);
        expect(emu.resources("staging")!.find((s) => s.urn.endsWith("::k8s-staging-buywhere-api-patch"))!.initErrors).toBeUndefined();
    });

    it("a failure at one applier: nothing starts after it, nothing downstream runs, outputs by the engine's rule; the next update completes", async () => {
        const before = emu.outputs("staging");
        const k8sBefore = k8sSecret();
        const january = { config: { "rotation:stamp": "2027-01", "rotation:restartStamps": { k8s: "2026-12-02T1000Z" } }, now: new Date("2027-01-03T12:00:00Z") };
        // The applier runs for real (PostgreSQL accepts slot a's new password), then fails.
        const failed = await up("rotation failing at database-apply-a", { ...january, failAt: { resource: "database-apply-a", after: true } });
        expect(failed.result).toBe("failed");
        expect(failed.errors).toEqual([{ urn: expect.stringMatching(/::database-apply-a$/), message: expect.stringMatching(/^emulated failure injected at .*\(after the operation\)$/) }]);
        const failure = failed.operations.find((o) => o.failed)!;
        expect(failure.name).toBe("database-apply-a");
        // Operations in flight finished; none started after the failure.
        for (const o of failed.operations) expect(o.start, o.name).toBeLessThanOrEqual(failure.end);
        // Everything downstream of the database applier never started: its secrets, the Kubernetes Secret (it waits
        // for every applier), every restart, the health gate.
        const ran = new Set(failed.operations.map((o) => o.name));
        for (const name of ["aws-DATABASE_URL", "aws-POSTGRES_PASSWORD", "k8s-staging-secret", "k8s-staging-buywhere-api-patch", "health-check"]) {
            expect(ran.has(name), name).toBe(false);
        }
        expect(k8sSecret()).toEqual(k8sBefore);
        expect(await canLogIn(k8sBefore.DATABASE_URL)).toBe(true); // what pods hold still works
        // The engine's rule: old outputs, overwritten by whatever the program sent before the update stopped.
        expect(failed.outputs).toEqual({ ...before, ...(failed.sentOutputs ?? {}) });
        expect(failed.outputs.rotationState).toEqual(before.rotationState);
        expect(emu.history("staging")[0]).toMatchObject({ result: "failed", message: failed.error });

        // The next update starts from the state the failed one recorded and completes the rotation.
        const recovered = await up("rerun after the failure", january);
        expect(recovered.errors).toEqual([]);
        expect(recovered.result).toBe("succeeded");
        expect(recovered.operations.some((o) => o.name === "database-apply-a")).toBe(true);
        const published = k8sSecret();
        expect(published.DATABASE_URL).not.toBe(k8sBefore.DATABASE_URL);
        expect(await canLogIn(published.DATABASE_URL)).toBe(true);
        expect(recovered.outputs.rotationState).not.toEqual(before.rotationState);
    });
});
