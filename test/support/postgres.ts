/**
 * A real, throwaway PostgreSQL cluster (15 here) for tests: initdb into a temp directory, pg_ctl start on a free port on
 * 127.0.0.1, SCRAM authentication, an `admin` superuser whose password is passed by file. PostgreSQL refuses to run
 * as root, so as root both run through `runuser -u postgres` on a directory that user owns.
 * Or an external server from PG_TEST_ADMIN_URL (a superuser URL, e.g. a docker-compose service).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { freePort } from "./ports";

export interface Postgres {
    /** Superuser URL of the `buywhere` database. */
    readonly adminUrl: string;
    readonly host: string;
    readonly port: number;
    /** The server's log (every statement is logged); undefined for an external server. */
    readonly logFile?: string;
    stop(): Promise<void>;
}

/** The newest installed server's binaries (Debian: /usr/lib/postgresql/<major>/bin; scripts/systemDeps.sh installs one). */
export const BIN = (existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql") : [])
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => `/usr/lib/postgresql/${v}/bin`)
    .find((d) => existsSync(join(d, "initdb")) && existsSync(join(d, "pg_ctl")));

function asPostgres(cmd: string, args: string[]): void {
    const root = process.getuid?.() === 0;
    const [file, argv] = root ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    execFileSync(file, argv, { stdio: ["ignore", "pipe", "pipe"] });
}

async function ensureDatabase(serverUrl: string, name: string): Promise<void> {
    const c = new Client({ connectionString: serverUrl });
    await c.connect();
    try {
        const r = await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
        if (r.rowCount === 0) await c.query(`CREATE DATABASE "${name}"`);
    } finally {
        await c.end();
    }
}

/** @param opts.port a fixed port (the sandbox's, from Pulumi.local.yaml): always a cluster of its own, never PG_TEST_ADMIN_URL's. */
export async function startPostgres(opts: { port?: number } = {}): Promise<Postgres> {
    const external = opts.port === undefined ? process.env.PG_TEST_ADMIN_URL : undefined;
    if (external) {
        await ensureDatabase(external, "buywhere");
        const u = new URL(external);
        u.pathname = "/buywhere";
        return { adminUrl: u.toString(), host: u.hostname, port: Number(u.port || 5432), stop: async () => undefined };
    }
    if (!BIN) throw new Error("PostgreSQL server binaries not found (expected /usr/lib/postgresql/<version>/bin/initdb)");
    const dir = mkdtempSync(join(tmpdir(), "rotation-pg-"));
    chmodSync(dir, 0o755);
    const password = randomBytes(12).toString("hex");
    writeFileSync(join(dir, "pwfile"), password, { mode: 0o600 });
    if (process.getuid?.() === 0) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    asPostgres(join(BIN, "initdb"), ["-D", join(dir, "data"), "-U", "admin", "--auth=scram-sha-256", `--pwfile=${join(dir, "pwfile")}`, "-E", "UTF8"]);
    const port = opts.port ?? (await freePort());
    asPostgres(join(BIN, "pg_ctl"), [
        "-D", join(dir, "data"), "-l", join(dir, "server.log"), "-w", "-t", "60",
        "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c log_statement=all`,
        "start",
    ]);
    const server = `postgresql://admin:${password}@127.0.0.1:${port}/postgres`;
    await ensureDatabase(server, "buywhere");
    return {
        adminUrl: `postgresql://admin:${password}@127.0.0.1:${port}/buywhere`,
        host: "127.0.0.1",
        port,
        logFile: join(dir, "server.log"),
        async stop() {
            try {
                asPostgres(join(BIN!, "pg_ctl"), ["-D", join(dir, "data"), "-m", "immediate", "-w", "stop"]);
            } finally {
                rmSync(dir, { recursive: true, force: true });
            }
        },
    };
}
