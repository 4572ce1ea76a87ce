/**
 * An ngIRCd speaking TLS on a loopback port, with a throwaway certificate authority made by
 * `openssl` in a temp folder. The server certificate is signed by that CA (not by anything the
 * system trusts), so a client that verifies the chain refuses it, while a client that pins its
 * SHA-256 fingerprint can accept it.
 *
 * test/support/ircd.ts starts the plain servers; this file only adds what TLS needs.
 */
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./ports.ts";
import { type RunningProcess, removeDir, startProcess, tempDir, waitForPort } from "./service.ts";

const run = promisify(execFile);

/** A running ngIRCd with a TLS listener. */
export interface TlsIrcServer {
  host: "127.0.0.1";
  /** The TLS port (there is no plain-text listener clients are meant to use). */
  port: number;
  serverName: string;
  /** SHA-256 of the server certificate, as `AB:CD:…` (what a pin holds). */
  fingerprint: string;
  /** The CA certificate (PEM) that signed the server certificate. */
  caPem: string;
  stop(): Promise<void>;
  output(): string;
}

/** Makes a CA and a server certificate for 127.0.0.1/localhost; returns their file paths. */
async function makeCertificates(dir: string): Promise<{ cert: string; key: string; ca: string }> {
  const ca = join(dir, "ca.pem");
  const caKey = join(dir, "ca-key.pem");
  const key = join(dir, "server-key.pem");
  const csr = join(dir, "server.csr");
  const cert = join(dir, "server.pem");
  const ext = join(dir, "server.ext");
  const days = ["-days", "2"];
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    caKey,
    "-out",
    ca,
    ...days,
    "-subj",
    "/CN=Postern test CA",
  ]);
  await run("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=localhost",
  ]);
  await writeFile(ext, "subjectAltName = IP:127.0.0.1, DNS:localhost\n");
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca,
    "-CAkey",
    caKey,
    "-CAcreateserial",
    "-out",
    cert,
    ...days,
    "-extfile",
    ext,
  ]);
  return { cert, key, ca };
}

/** Starts ngIRCd 26 (built with TLS in Debian) with a TLS listener and the test limits lifted. */
export async function startTlsNgircd(options: { serverName?: string } = {}): Promise<TlsIrcServer> {
  const serverName = options.serverName ?? "tls.ngircd.test";
  const dir = await tempDir("ngircd-tls");
  try {
    const files = await makeCertificates(dir);
    const plainPort = await freePort();
    const port = await freePort();
    // ngIRCd drops root for "nobody", which must still reach the folder, its pidfile and the key.
    const runDir = join(dir, "run");
    await mkdir(runDir);
    await mkdir(join(dir, "conf.d"));
    await chmod(dir, 0o755);
    await chmod(runDir, 0o777);
    await chmod(files.key, 0o644);
    const configFile = join(dir, "ngircd.conf");
    await writeFile(
      configFile,
      `[Global]
  Name = ${serverName}
  Info = Postern TLS test server
  AdminInfo1 = Postern tests
  AdminInfo2 = loopback only
  AdminEMail = tests@localhost
  Listen = 127.0.0.1
  Ports = ${plainPort}
  PidFile = ${join(runDir, "ngircd.pid")}
  MotdPhrase = Postern TLS test server
[Limits]
  MaxConnections = 0
  MaxConnectionsIP = 0
  MaxJoins = 0
  MaxNickLength = 30
  MaxPenaltyTime = 0
[Options]
  DNS = no
  Ident = no
  PAM = no
  DefaultUserModes = F
  IncludeDir = ${join(dir, "conf.d")}
[SSL]
  CertFile = ${files.cert}
  KeyFile = ${files.key}
  Ports = ${port}
`,
    );
    const proc: RunningProcess = startProcess("/usr/sbin/ngircd", ["--nodaemon", "--config", configFile], {
      cwd: dir,
    });
    try {
      await waitForPort(port, "ngircd TLS port", 15_000, "127.0.0.1", proc);
    } catch (error) {
      await proc.kill();
      throw new Error(`ngircd (TLS) did not start: ${(error as Error).message}\n${proc.output()}`);
    }
    const caPem = await readFile(files.ca, "utf8");
    const fingerprint = new X509Certificate(await readFile(files.cert)).fingerprint256;
    return {
      host: "127.0.0.1",
      port,
      serverName,
      fingerprint,
      caPem,
      output: () => proc.output(),
      async stop() {
        await proc.stop();
        await removeDir(dir);
      },
    };
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
}
