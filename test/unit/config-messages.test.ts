import { describe, expect, it } from "vitest";
import { describeValue, isSecretKey, maskUrlPassword } from "../../src/config/describe.ts";
import { formatPath } from "../../src/config/errors.ts";
import { closestMatch, editDistance } from "../../src/config/suggest.ts";

describe("formatPath", () => {
  it("writes paths the way a programmer reads them", () => {
    expect(formatPath(["gateways", 1, "xmpp", "port"])).toBe("gateways[1].xmpp.port");
    expect(formatPath(["settings", "servers", "irc.libera.chat", "port"])).toBe(
      'settings.servers["irc.libera.chat"].port',
    );
    expect(formatPath([])).toBe("(top level)");
  });
});

describe("suggestions for typos", () => {
  it("counts a swap of neighbours as one edit", () => {
    expect(editDistance("sercet", "secret")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("kitten", "sitting")).toBe(3);
  });

  it("suggests the closest known key, ignoring case", () => {
    expect(closestMatch("sercet", ["host", "port", "secret"])).toBe("secret");
    expect(closestMatch("keyprefix", ["url", "keyPrefix"])).toBe("keyPrefix");
    expect(closestMatch("allowedDomain", ["allowedDomains", "admins"])).toBe("allowedDomains");
  });

  it("suggests nothing when no key is close", () => {
    expect(closestMatch("colour", ["domain", "adapter", "xmpp"])).toBeUndefined();
    expect(closestMatch("tls", ["host", "port"])).toBeUndefined();
  });
});

describe("secret masking", () => {
  it("knows which keys hold secrets", () => {
    for (const key of [
      "secret",
      "password",
      "token",
      "encryptionKey",
      "botToken",
      "saslPassword",
      "nickServSecret",
    ]) {
      expect(isSecretKey(key), key).toBe(true);
    }
    for (const key of ["keyPrefix", "username", "host", "publicUrl", "secret_file"]) {
      expect(isSecretKey(key), key).toBe(false);
    }
  });

  it("masks any value inside a secret", () => {
    expect(describeValue("hunter2", ["redis", "password"])).toBe('"***"');
    expect(describeValue(["a"], ["settings", "tokens", 0])).toBe('"***"');
  });

  it("masks the password of a URL", () => {
    expect(maskUrlPassword("redis://:hunter2@db:6379/0")).toBe("redis://:***@db:6379/0");
    expect(maskUrlPassword("redis://user:p@ss@db:6379")).toBe("redis://user:***@db:6379");
    expect(maskUrlPassword("redis://db:6379/0")).toBe("redis://db:6379/0");
  });

  it("describes values by kind", () => {
    expect(describeValue("abc", ["x"])).toBe('"abc"');
    expect(describeValue(5, ["x"])).toBe("5");
    expect(describeValue(null, ["x"])).toBe("an empty value");
    expect(describeValue([], ["x"])).toBe("an empty list");
    expect(describeValue({ a: 1 }, ["x"])).toBe("a mapping");
    expect(describeValue("y".repeat(100), ["x"])).toBe(`"${"y".repeat(60)}…"`);
  });
});
