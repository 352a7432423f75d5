/**
 * A real, throwaway PgBouncer (Debian's `pgbouncer` package) in front of a test PostgreSQL: 127.0.0.1, a free port,
 * `auth_type = scram-sha-256` and an `auth_file` in a temp directory, session pooling. The file holds, at start, one
 * line: the admin console's user (`admin_users`) with a plain-text password ("the second is either a plain-text, a
 * MD5-hashed password, or a SCRAM secret", man 5 pgbouncer, AUTHENTICATION FILE FORMAT). Tests write the slot roles'
 * lines into `authFile` and `RELOAD` through the admin console, as production does through the Kubernetes Secret.
 *
 * PgBouncer refuses to run as root ("PgBouncer should not run as root"), so as root it runs through
 * `runuser -u postgres`, on a directory that user owns (like the PostgreSQL launcher in ./postgres.ts).
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postgresAnswers } from "./logins";
import { freePort, waitFor } from "./ports";
import { stopServer } from "./redis";

export interface PgBouncer {
    readonly host: string;
    readonly port: number;
    /** The file PgBouncer reads as `auth_file` (owned by the server's user; write it in place). */
    readonly authFile: string;
    /** The admin console: `postgresql://<admin>:<password>@127.0.0.1:<port>/pgbouncer`. */
    readonly adminUrl: string;
    readonly logFile: string;
    stop(): Promise<void>;
}

const BINARY = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"].find((p) => existsSync(p));

/** Starts PgBouncer serving database `database` of the PostgreSQL at `pgPort` on 127.0.0.1. */
export async function startPgBouncer(pgPort: number, database = "buywhere"): Promise<PgBouncer> {
    if (!BINARY) throw new Error("pgbouncer not found (apt-get install -y pgbouncer)");
    const dir = mkdtempSync(join(tmpdir(), "rotation-pgbouncer-"));
    chmodSync(dir, 0o755);
    const port = await freePort();
    const adminPassword = randomBytes(12).toString("hex");
    const authFile = join(dir, "userlist.txt");
    const logFile = join(dir, "pgbouncer.log");
    writeFileSync(authFile, `"pgb_admin" "${adminPassword}"\n`, { mode: 0o600 });
    writeFileSync(
        join(dir, "pgbouncer.ini"),
        [
            "[databases]",
            // No user in the definition: SCRAM pass-through needs it ("the PgBouncer database definition does not
            // specify a user name", man 5 pgbouncer, AUTHENTICATION FILE FORMAT).
            `${database} = host=127.0.0.1 port=${pgPort} dbname=${database}`,
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            `listen_port = ${port}`,
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            `auth_file = ${authFile}`,
            "admin_users = pgb_admin",
            "pool_mode = session",
            "server_tls_sslmode = disable",
            `logfile = ${logFile}`,
            "ignore_startup_parameters = extra_float_digits",
        ].join("\n") + "\n",
        { mode: 0o600 },
    );
    const root = process.getuid?.() === 0;
    if (root) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    const ini = join(dir, "pgbouncer.ini");
    const child: ChildProcess = root
        ? spawn("runuser", ["-u", "postgres", "--", BINARY, ini], { stdio: ["ignore", "ignore", "pipe"] })
        : spawn(BINARY, [ini], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr += d));
    const adminUrl = `postgresql://pgb_admin:${adminPassword}@127.0.0.1:${port}/pgbouncer`;
    try {
        await waitFor("pgbouncer", async () => {
            if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${stderr.trim().split("\n").pop() ?? ""}`);
            return postgresAnswers({ connectionString: adminUrl }, "SHOW VERSION");
        });
    } catch (err) {
        await stopServer(child, dir);
        throw err;
    }
    return { host: "127.0.0.1", port, authFile, adminUrl, logFile, stop: () => stopServer(child, dir) };
}
