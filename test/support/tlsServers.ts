/**
 * TLS fixtures for the hooks' transport tests: a throwaway CA with a server certificate issued for `localhost` only
 * (made with the openssl CLI), and a PostgreSQL 15 and a redis-server on 127.0.0.1 that speak TLS with it.
 *
 * The PostgreSQL server logs every connection (`log_connections`), so a test can read whether a session used SSL. The
 * Redis server listens on its TLS port only (`port 0`): a connection that works is a TLS connection.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { Client } from "pg";
import { freePort, waitFor } from "./ports";
import { BIN } from "./postgres";
import { stopServer } from "./redis";

export interface TestCa {
    readonly dir: string;
    /** The CA certificate (PEM file): what ROTATION_PG_CA_FILE / ROTATION_REDIS_CA_FILE name. */
    readonly caFile: string;
    /** The server certificate, issued by the CA for DNS:localhost only, and its key. */
    readonly certFile: string;
    readonly keyFile: string;
    remove(): void;
}

const openssl = (args: string[], cwd: string) => execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] });

/** A CA and a server certificate for `localhost` (subjectAltName DNS:localhost; no IP address), valid for two days. */
export function makeTestCa(): TestCa {
    const dir = mkdtempSync(join(tmpdir(), "rotation-tls-"));
    chmodSync(dir, 0o755);
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=rotation test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
    openssl(["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], dir);
    writeFileSync(join(dir, "server.ext"), "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n");
    openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"], dir);
    return {
        dir,
        caFile: join(dir, "ca.pem"),
        certFile: join(dir, "server.pem"),
        keyFile: join(dir, "server.key"),
        remove: () => rmSync(dir, { recursive: true, force: true }),
    };
}

export interface TlsPostgres {
    /** Superuser URL of the `buywhere` database through `localhost`, with sslmode=verify-full. */
    readonly adminUrl: string;
    readonly port: number;
    readonly password: string;
    /** The connection lines of the server log (`connection authorized: user=... SSL enabled ...`). */
    connectionLog(): string[];
    stop(): Promise<void>;
}

/** The same server binaries as the plain launcher's (the newest installed major). */
const PG_BIN = BIN;

function asPostgres(cmd: string, args: string[]): void {
    const root = process.getuid?.() === 0;
    const [file, argv] = root ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    execFileSync(file, argv, { stdio: ["ignore", "pipe", "pipe"] });
}

/** A PostgreSQL 15 with `ssl = on` (the certificate of `ca`), SCRAM, an `admin` superuser, and every connection logged. */
export async function startTlsPostgres(ca: TestCa): Promise<TlsPostgres> {
    if (!PG_BIN) throw new Error("PostgreSQL server binaries not found (expected /usr/lib/postgresql/<version>/bin/initdb)");
    const dir = mkdtempSync(join(tmpdir(), "rotation-pg-tls-"));
    chmodSync(dir, 0o755);
    const password = randomBytes(12).toString("hex");
    writeFileSync(join(dir, "pwfile"), password, { mode: 0o600 });
    // The server reads its key itself, and refuses one others may read.
    writeFileSync(join(dir, "server.key"), readFileSync(ca.keyFile), { mode: 0o600 });
    writeFileSync(join(dir, "server.pem"), readFileSync(ca.certFile));
    if (process.getuid?.() === 0) execFileSync("chown", ["-R", "postgres:postgres", dir]);
    asPostgres(join(PG_BIN, "initdb"), ["-D", join(dir, "data"), "-U", "admin", "--auth=scram-sha-256", `--pwfile=${join(dir, "pwfile")}`, "-E", "UTF8"]);
    const port = await freePort();
    const log = join(dir, "server.log");
    asPostgres(join(PG_BIN, "pg_ctl"), [
        "-D", join(dir, "data"), "-l", log, "-w", "-t", "60",
        "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c log_connections=on -c ssl=on ` +
            `-c ssl_cert_file=${join(dir, "server.pem")} -c ssl_key_file=${join(dir, "server.key")}`,
        "start",
    ]);
    const ssl = { ca: readFileSync(ca.caFile, "utf8"), rejectUnauthorized: true };
    const setup = new Client({ host: "localhost", port, user: "admin", password, database: "postgres", ssl });
    await setup.connect();
    await setup.query("CREATE DATABASE buywhere");
    await setup.end();
    return {
        adminUrl: `postgresql://admin:${password}@localhost:${port}/buywhere?sslmode=verify-full`,
        port,
        password,
        connectionLog: () => readFileSync(log, "utf8").split("\n").filter((l) => l.includes("connection authorized")),
        async stop() {
            try {
                asPostgres(join(PG_BIN!, "pg_ctl"), ["-D", join(dir, "data"), "-m", "immediate", "-w", "stop"]);
            } finally {
                rmSync(dir, { recursive: true, force: true });
            }
        },
    };
}

export interface TlsRedis {
    /** Admin URL through `localhost`: `rediss://default:<password>@localhost:<port>/0`. */
    readonly adminUrl: string;
    readonly port: number;
    stop(): Promise<void>;
}

/** A redis-server whose only listener is TLS (the certificate of `ca`), with `default` as the admin. */
export async function startTlsRedis(ca: TestCa): Promise<TlsRedis> {
    const dir = mkdtempSync(join(tmpdir(), "rotation-redis-tls-"));
    const port = await freePort();
    const password = randomBytes(12).toString("hex");
    writeFileSync(
        join(dir, "redis.conf"),
        [
            "port 0", `tls-port ${port}`, "bind 127.0.0.1", `dir ${dir}`, 'save ""', "appendonly no", `requirepass ${password}`,
            `tls-cert-file ${ca.certFile}`, `tls-key-file ${ca.keyFile}`, `tls-ca-cert-file ${ca.caFile}`, "tls-auth-clients no",
        ].join("\n") + "\n",
        { mode: 0o600 },
    );
    const child: ChildProcess = spawn("redis-server", [join(dir, "redis.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d) => (stderr += d));
    const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}: ${stderr}`))));
    const caPem = readFileSync(ca.caFile);
    await Promise.race([
        exited,
        waitFor("redis-server (TLS)", () =>
            new Promise<boolean>((resolve, reject) => {
                const s = tls.connect({ host: "localhost", port, ca: caPem }, () => {
                    s.end();
                    resolve(true);
                });
                s.on("error", reject);
            }),
        ),
    ]);
    return {
        adminUrl: `rediss://default:${password}@localhost:${port}/0`,
        port,
        stop: () => stopServer(child, dir),
    };
}
