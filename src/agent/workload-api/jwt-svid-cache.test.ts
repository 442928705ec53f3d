import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createFakeClock } from "../../../test/support/fake-clock.js";
import type { MintedJwtSvid } from "./contracts.js";
import { createJwtSvidCache } from "./jwt-svid-cache.js";
import { FakeIdentitySource } from "../../../test/support/fake-identity-source.js";

describe("JWT-SVID cache", () => {
  function setup(maxEntries?: number) {
    const clock = createFakeClock(Date.now());
    const minted: string[] = [];
    const cache = createJwtSvidCache({
      clock,
      maxEntries,
      mint: async (id, aud): Promise<MintedJwtSvid> => {
        minted.push(`${id} ${aud.join(",")}`);
        return { token: `t${minted.length}`, issuedAt: clock.now(), expiresAt: clock.now() + 300_000 };
      },
    });
    return { clock, minted, cache };
  }

  it("reuses a token until half its lifetime, then mints a new one", async () => {
    const { clock, minted, cache } = setup();
    assert.equal((await cache.get("spiffe://td/a", ["x"])).token, "t1");
    clock.advance(149_000);
    assert.equal((await cache.get("spiffe://td/a", ["x"])).token, "t1");
    clock.advance(1_000);
    assert.equal((await cache.get("spiffe://td/a", ["x"])).token, "t2", "re-minted at half-life");
    assert.equal(minted.length, 2);
  });

  it("keys by SPIFFE ID and audience set (order and duplicates ignored)", async () => {
    const { minted, cache } = setup();
    const a = await cache.get("spiffe://td/a", ["x", "y"]);
    assert.equal((await cache.get("spiffe://td/a", ["y", "x", "y"])).token, a.token);
    assert.notEqual((await cache.get("spiffe://td/a", ["x"])).token, a.token);
    assert.notEqual((await cache.get("spiffe://td/b", ["x", "y"])).token, a.token);
    assert.deepEqual(minted, ["spiffe://td/a x,y", "spiffe://td/a x", "spiffe://td/b x,y"]);
  });

  it("shares one signature between concurrent misses and does not cache failures", async () => {
    const clock = createFakeClock(Date.now());
    let calls = 0;
    const cache = createJwtSvidCache({
      clock,
      mint: async () => {
        calls++;
        if (calls === 1) throw new Error("signer down");
        return { token: "ok", issuedAt: clock.now(), expiresAt: clock.now() + 60_000 };
      },
    });
    await assert.rejects(cache.get("spiffe://td/a", ["x"]), /signer down/);
    await new Promise((r) => setImmediate(r));
    const [one, two] = await Promise.all([cache.get("spiffe://td/a", ["x"]), cache.get("spiffe://td/a", ["x"])]);
    assert.equal(one.token, "ok");
    assert.equal(two.token, "ok");
    assert.equal(calls, 2);
  });

  it("stays within maxEntries, dropping the oldest", async () => {
    const { minted, cache } = setup(2);
    await cache.get("spiffe://td/a", ["x"]);
    await cache.get("spiffe://td/b", ["x"]);
    await cache.get("spiffe://td/c", ["x"]);
    assert.equal(cache.size, 2);
    await cache.get("spiffe://td/c", ["x"]);
    await cache.get("spiffe://td/a", ["x"]);
    assert.equal(minted.length, 4, "a was evicted and re-minted, c was cached");
  });

  it("works with the fake identity source's real signatures", async () => {
    const clock = createFakeClock(Date.now());
    const source = new FakeIdentitySource({ clock, jwtTtlSeconds: 60 });
    const cache = createJwtSvidCache({ clock, mint: (id, aud) => source.mintJwtSvid(id, aud) });
    const first = await cache.get("spiffe://example.org/a", ["aud"]);
    clock.advance(29_000);
    assert.equal((await cache.get("spiffe://example.org/a", ["aud"])).token, first.token);
    clock.advance(2_000);
    assert.notEqual((await cache.get("spiffe://example.org/a", ["aud"])).token, first.token);
    assert.equal(source.mints, 2);
  });
});
