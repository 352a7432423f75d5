/**
 * ENGINE EMULATOR (tests only; it is not Pulumi): property values as they travel between the Node SDK and the
 * engine, and as the engine keeps them in a checkpoint.
 *
 * On the wire (`google.protobuf.Struct` turned into plain JS) a secret is `{ [specialSigKey]: specialSecretSig,
 * value }` and an unknown (preview only) is the `unknownValue` string (`@pulumi/pulumi` `runtime/rpc.js`). In a
 * checkpoint the engine replaces a secret's `value` with `ciphertext` (pulumi/pulumi
 * `pkg/resource/stack/deployment.go`, SerializePropertyValue / DeserializePropertyValue).
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { specialSecretSig, specialSigKey, unknownValue } from "@pulumi/pulumi/runtime/rpc";

/** A property value in wire form (JSON, with secret wrappers and unknown sentinels). */
export type Wire = unknown;
/** A property map in wire form. */
export type WireMap = Record<string, Wire>;

export const UNKNOWN = unknownValue;

export function isSecret(value: Wire): value is { value: Wire } {
    return !!value && typeof value === "object" && !Array.isArray(value) && (value as Record<string, unknown>)[specialSigKey] === specialSecretSig;
}

export function makeSecret(value: Wire): Wire {
    return isSecret(value) ? value : { [specialSigKey]: specialSecretSig, value };
}

/** The value with every secret wrapper removed (what a provider sees). */
export function plain(value: Wire): any {
    if (isSecret(value)) return plain(value.value);
    if (Array.isArray(value)) return value.map(plain);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
    return value;
}

export function containsSecret(value: Wire): boolean {
    if (isSecret(value)) return true;
    if (Array.isArray(value)) return value.some(containsSecret);
    if (value && typeof value === "object") return Object.values(value).some(containsSecret);
    return false;
}

export function containsUnknown(value: Wire): boolean {
    if (value === UNKNOWN) return true;
    if (isSecret(value)) return containsUnknown(value.value);
    if (Array.isArray(value)) return value.some(containsUnknown);
    if (value && typeof value === "object") return Object.values(value).some(containsUnknown);
    return false;
}

/** Deep equality of two wire values, ignoring secretness; an unknown equals nothing (the engine treats it as a change). */
export function sameValue(a: Wire, b: Wire): boolean {
    if (isSecret(a)) return sameValue(a.value, b);
    if (isSecret(b)) return sameValue(a, b.value);
    if (a === UNKNOWN || b === UNKNOWN) return false;
    if (Array.isArray(a) || Array.isArray(b)) {
        return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
    }
    if (a && b && typeof a === "object" && typeof b === "object") {
        const ka = Object.keys(a).filter((k) => (a as WireMap)[k] !== undefined && (a as WireMap)[k] !== null);
        const kb = Object.keys(b).filter((k) => (b as WireMap)[k] !== undefined && (b as WireMap)[k] !== null);
        return ka.length === kb.length && ka.every((k) => sameValue((a as WireMap)[k], (b as WireMap)[k]));
    }
    return a === b || ((a === undefined || a === null) && (b === undefined || b === null));
}

/** Top-level keys whose values differ between two property maps. */
export function changedKeys(olds: WireMap, news: WireMap): string[] {
    const keys = new Set([...Object.keys(olds), ...Object.keys(news)]);
    return [...keys].filter((k) => !sameValue(olds[k], news[k])).sort();
}

/** Drops `undefined` (protobuf Structs cannot carry it). */
export function compact<T extends WireMap>(map: T): T {
    return Object.fromEntries(Object.entries(map).filter(([, v]) => v !== undefined)) as T;
}

/** A checkpoint's secrets cipher: AES-256-GCM, like the passphrase secrets manager's `v1:` ciphertexts in spirit. */
export class SecretsCipher {
    constructor(private readonly key: Buffer) {}

    static generateKey(): Buffer {
        return randomBytes(32);
    }

    encrypt(value: Wire): Wire {
        if (isSecret(value)) {
            const iv = randomBytes(12);
            const cipher = createCipheriv("aes-256-gcm", this.key, iv);
            const body = Buffer.concat([cipher.update(JSON.stringify(plain(value.value) ?? null), "utf8"), cipher.final()]);
            const ciphertext = `v1:${iv.toString("base64")}:${Buffer.concat([cipher.getAuthTag(), body]).toString("base64")}`;
            return { [specialSigKey]: specialSecretSig, ciphertext };
        }
        if (Array.isArray(value)) return value.map((v) => this.encrypt(v));
        if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.encrypt(v)]));
        return value;
    }

    decrypt(value: Wire): Wire {
        if (value && typeof value === "object" && !Array.isArray(value)) {
            const obj = value as Record<string, unknown>;
            if (obj[specialSigKey] === specialSecretSig && typeof obj.ciphertext === "string") {
                const [, iv, data] = obj.ciphertext.split(":");
                const raw = Buffer.from(data, "base64");
                const decipher = createDecipheriv("aes-256-gcm", this.key, Buffer.from(iv, "base64"));
                decipher.setAuthTag(raw.subarray(0, 16));
                const text = Buffer.concat([decipher.update(raw.subarray(16)), decipher.final()]).toString("utf8");
                return makeSecret(JSON.parse(text));
            }
            return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, this.decrypt(v)]));
        }
        if (Array.isArray(value)) return value.map((v) => this.decrypt(v));
        return value;
    }
}
