/**
 * The plan's warnings reach the operator once: a raw `pulumi up` logs them (pulumi.log.warn, in Pulumi's output); a CLI
 * run (REQUEST_ENV set) does not, because the CLI prints them itself with the command that clears them
 * (automation/render.ts `warningLines`, asserted in test/cliHardening.test.ts). Program run under setMocks.
 */
import { describe, expect, it } from "vitest";
import { REQUEST_ENV, encodeRequest } from "../rotation/request";
import { ADMIN_ENV, runProgram } from "./support/pulumiProgram";

describe("plan warnings in the program", () => {
    const config = { "rotation:firstDeployment": true, "rotation:groupStamps": { "api-key": "2026-10" } };
    const warning = "`rotation:groupStamps.api-key` 2026-10 is older than `rotation:stamp` and has no effect";

    it("a raw pulumi up logs them; a CLI run leaves them to the CLI", async () => {
        const raw = await runProgram({ stack: "staging", config, preview: true });
        expect(raw.logs).toContain(warning);
        const cli = await runProgram({ stack: "staging", config, preview: true, env: { ...ADMIN_ENV, [REQUEST_ENV]: encodeRequest({ firstDeployment: true }) } });
        expect(cli.logs).not.toContain(warning);
        expect(cli.registrations.length).toBe(raw.registrations.length);
    });
});
