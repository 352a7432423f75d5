/**
 * ENGINE EMULATOR (tests only; it is not Pulumi): a file backend laid out like the DIY backend's project layout
 * (pulumi/pulumi `pkg/backend/diy`: `.pulumi/stacks/<project>/<stack>.json`, `.pulumi/history/...`,
 * `.pulumi/locks/organization/<project>/<stack>/<id>.json`), so that separate processes can run successive
 * updates of a stack. Checkpoints use the engine's checkpoint shape (`version: 3`, `checkpoint.latest.resources`,
 * the root stack resource carrying the stack outputs) with secrets stored as ciphertext.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { SecretsCipher, WireMap } from "./wire";

export const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/** One resource in a checkpoint (the fields of pulumi/pulumi `sdk/go/common/apitype` ResourceV3 the emulator uses). */
export interface ResourceState {
    readonly urn: string;
    readonly type: string;
    readonly custom: boolean;
    readonly id?: string;
    readonly parent?: string;
    /** Provider reference `<provider urn>::<provider id>`. */
    readonly provider?: string;
    /** Wire form (secrets wrapped). */
    readonly inputs: WireMap;
    outputs: WireMap;
    readonly dependencies: readonly string[];
    readonly propertyDependencies?: Readonly<Record<string, readonly string[]>>;
    readonly protect?: boolean;
    readonly retainOnDelete?: boolean;
    readonly deleteBeforeReplace?: boolean;
    readonly replaceOnChanges?: readonly string[];
    /** The `replacementTrigger` recorded for it (plain). */
    readonly replacementTrigger?: unknown;
    readonly additionalSecretOutputs?: readonly string[];
    readonly initErrors?: readonly string[];
    /** The id it was imported with (an `import` resource option), so the same option is not an import again. */
    readonly importID?: string;
    /** A resource that was read (a StackReference), not managed. */
    readonly external?: boolean;
    /** The old half of a create-before-delete replacement, waiting to be deleted by a successful update. */
    readonly delete?: boolean;
}

export interface Checkpoint {
    readonly stack: string;
    readonly resources: ResourceState[];
}

/** Resource operation counts, as the Automation API's `resourceChanges` names them. */
export interface ChangeSummary {
    create: number;
    update: number;
    replace: number;
    delete: number;
    same: number;
    read: number;
    import: number;
}

export interface UpdateRecord {
    readonly version: number;
    readonly kind: "update";
    readonly result: "succeeded" | "failed" | "cancelled";
    readonly startTime: string;
    readonly endTime: string;
    readonly resourceChanges: ChangeSummary;
    readonly message?: string;
}

export class StackLockedError extends Error {}

function writeAtomic(file: string, text: string, mode?: number): void {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    writeFileSync(tmp, text, { mode });
    renameSync(tmp, file);
}

export class FileBackend {
    readonly cipher: SecretsCipher;

    constructor(
        readonly dir: string,
        readonly project: string,
    ) {
        const keyFile = join(dir, ".pulumi", "engine-emulator.key");
        if (!existsSync(keyFile)) writeAtomic(keyFile, SecretsCipher.generateKey().toString("base64"), 0o600);
        this.cipher = new SecretsCipher(Buffer.from(readFileSync(keyFile, "utf8"), "base64"));
    }

    /** `organization/<project>/<stack>`: a DIY backend's fully qualified stack name. */
    qualifiedName(stack: string): string {
        return `organization/${this.project}/${stack}`;
    }

    private stackFile(stack: string): string {
        return join(this.dir, ".pulumi", "stacks", this.project, `${stack}.json`);
    }

    hasStack(stack: string): boolean {
        return existsSync(this.stackFile(stack));
    }

    /** The stack's last checkpoint (secrets decrypted to wire form), or undefined for a stack never updated. */
    load(stack: string): Checkpoint | undefined {
        const file = this.stackFile(stack);
        if (!existsSync(file)) return undefined;
        const doc = JSON.parse(readFileSync(file, "utf8")) as { checkpoint: { stack: string; latest?: { resources?: ResourceState[] } } };
        const resources = (doc.checkpoint.latest?.resources ?? []).map((r) => ({
            ...r,
            inputs: this.cipher.decrypt(r.inputs) as WireMap,
            outputs: this.cipher.decrypt(r.outputs) as WireMap,
        }));
        return { stack: doc.checkpoint.stack, resources };
    }

    save(stack: string, resources: readonly ResourceState[]): void {
        const doc = {
            version: 3,
            checkpoint: {
                stack: this.qualifiedName(stack),
                latest: {
                    manifest: { time: new Date().toISOString(), magic: "", version: "engine-emulator" },
                    secrets_providers: { type: "engine-emulator" },
                    resources: resources.map((r) => ({
                        ...r,
                        inputs: this.cipher.encrypt(r.inputs),
                        outputs: this.cipher.encrypt(r.outputs),
                    })),
                },
            },
        };
        writeAtomic(this.stackFile(stack), `${JSON.stringify(doc, null, 2)}\n`);
    }

    /**
     * The recorded outputs of a stack, by its fully qualified or bare name; `{}` when it was never updated
     * (pulumi/pulumi `pkg/backend/diy/state.go` getSnapshotStackOutputs: no checkpoint -> empty map).
     */
    stackOutputs(name: string): WireMap {
        const parts = name.split("/");
        const stack = parts[parts.length - 1];
        if (parts.length === 3 && (parts[0] !== "organization" || parts[1] !== this.project)) {
            throw new Error(`failed to load checkpoint: no stack named '${name}' found in this backend`);
        }
        const checkpoint = this.load(stack);
        return checkpoint?.resources.find((r) => r.type === ROOT_STACK_TYPE)?.outputs ?? {};
    }

    /**
     * Takes the update lock of a stack; throws the DIY backend's message if another process holds one
     * (pulumi/pulumi `pkg/backend/diy/lock.go` checkForLock).
     */
    lock(stack: string): () => void {
        const dir = join(this.dir, ".pulumi", "locks", "organization", this.project, stack);
        mkdirSync(dir, { recursive: true });
        const others = readdirSync(dir).filter((f) => f.endsWith(".json"));
        if (others.length > 0) {
            const lines = others.map((f) => {
                const l = JSON.parse(readFileSync(join(dir, f), "utf8")) as { username: string; hostname: string; pid: number; timestamp: string };
                return `\n  ${join(dir, f)}: created by ${l.username}@${l.hostname} (pid ${l.pid}) at ${l.timestamp}`;
            });
            throw new StackLockedError(
                `the stack is currently locked by ${others.length} lock(s). Either wait for the other process(es) to end or delete the lock file with \`pulumi cancel\`.${lines.join("")}`,
            );
        }
        const file = join(dir, `${randomUUID()}.json`);
        writeFileSync(file, JSON.stringify({ pid: process.pid, username: userInfo().username, hostname: hostname(), timestamp: new Date().toISOString() }));
        return () => rmSync(file, { force: true });
    }

    private historyDir(stack: string): string {
        return join(this.dir, ".pulumi", "history", this.project, stack);
    }

    /** Update records, newest first. */
    history(stack: string): UpdateRecord[] {
        const dir = this.historyDir(stack);
        if (!existsSync(dir)) return [];
        return readdirSync(dir)
            .filter((f) => f.endsWith(".history.json"))
            .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as UpdateRecord)
            .sort((a, b) => b.version - a.version);
    }

    appendHistory(stack: string, record: Omit<UpdateRecord, "version">): UpdateRecord {
        const version = (this.history(stack)[0]?.version ?? 0) + 1;
        const full = { version, ...record };
        writeAtomic(join(this.historyDir(stack), `${stack}-${String(version).padStart(6, "0")}.history.json`), JSON.stringify(full, null, 2));
        return full;
    }
}
