/**
 * `npm run bench`: bench/run.ts, then bench/programLoad.ts, each in its own process with the same arguments
 * (`npm run bench -- --small`, `--only=...`; each script runs the sections it knows). Exits non-zero if either failed.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const args = process.argv.slice(2);
let failed = false;
for (const script of ["run.ts", "programLoad.ts"]) {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(__dirname, script), ...args], { stdio: "inherit" });
    if (r.status !== 0) {
        process.stderr.write(`bench/${script} exited ${r.status ?? r.signal}\n`);
        failed = true;
    }
}
process.exit(failed ? 1 : 0);
