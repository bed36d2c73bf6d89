//! HAProxy's consistent hashing, as `balance uri whole path-only` + `hash-type consistent`
//! computes it: a port of its `get_server_uh`, `hash_sdbm`, `full_hash` and
//! `chash_get_server_hash` (haproxy `src/lb_chash.c`, `src/hash.c`), so `route` can name the
//! server a URI goes to. Checked against haproxy's own answers in the tests below and in the
//! live agreement tests.

/// HAProxy's `full_hash`: Bob Jenkins' 32-bit avalanche, then a multiplication by a large
/// prime (HAProxy's "better spread all around the tree").
pub fn full_hash(a: u32) -> u32 {
    let a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    let a = (a ^ 0xc761_c23c) ^ (a >> 19);
    let a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    let a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    let a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    let a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// HAProxy's `hash_sdbm` (its default hash function).
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        // C's `char` is signed on the platforms HAProxy runs on.
        let c = c as i8 as i32 as u32;
        c.wrapping_add(h << 6).wrapping_add(h << 16).wrapping_sub(h)
    })
}

/// The hash HAProxy computes for a URI in a `balance uri whole path-only` +
/// `hash-type consistent` backend: sdbm of the path and query, then the avalanche that
/// `hash-type consistent` without a function name adds.
pub fn uri_hash(uri: &str) -> u32 {
    full_hash(sdbm(uri.as_bytes()))
}

/// Points each server weight unit puts on the ring (HAProxy's `BE_WEIGHT_SCALE`).
const WEIGHT_SCALE: u32 = 16;
/// Ring points reserved per server id (`SRV_EWGHT_RANGE` = 256 × `BE_WEIGHT_SCALE`).
const ID_RANGE: u32 = 256 * WEIGHT_SCALE;

/// The server HAProxy's consistent-hash ring gives `hash`: `servers` are `(id, weight)` of the
/// servers that take traffic, in config order; each has `weight × 16` points at
/// `full_hash(id × 4096 + n)`, and the point nearest to the hash wins (the lower one on a
/// tie). `None` when no server has weight.
pub fn chash_pick(servers: &[(u32, u16)], hash: u32) -> Option<usize> {
    let mut ring: Vec<(u32, usize)> = Vec::new();
    for (i, &(id, weight)) in servers.iter().enumerate() {
        for n in 0..u32::from(weight) * WEIGHT_SCALE {
            ring.push((full_hash(id.wrapping_mul(ID_RANGE).wrapping_add(n)), i));
        }
    }
    if ring.is_empty() {
        return None;
    }
    // Stable: equal keys stay in insertion order, as in HAProxy's tree.
    ring.sort_by_key(|p| p.0);
    let at = ring.partition_point(|p| p.0 < hash);
    let next = ring[at % ring.len()];
    let prev = ring[(at + ring.len() - 1) % ring.len()];
    let (dp, dn) = (hash.wrapping_sub(prev.0), next.0.wrapping_sub(hash));
    Some(if dp <= dn { prev.1 } else { next.1 })
}

#[cfg(test)]
mod tests {
    use super::{chash_pick, full_hash, sdbm, uri_hash};

    #[test]
    fn haproxy_hash_functions() {
        // HAProxy's `hash_sdbm` and `full_hash` (compiled from its C), and what haproxy 2.6
        // itself answers for `%[url,sdbm(1)]` on `GET /stream/a?b=1`.
        assert_eq!(sdbm(b""), 0);
        assert_eq!(sdbm(b"a"), 97);
        assert_eq!(sdbm(b"/stream/a?b=1"), 2_613_440_952);
        assert_eq!(full_hash(0), 2_874_071_335);
        assert_eq!(full_hash(12345), 4_132_584_531);
        assert_eq!(uri_hash("/stream/a?b=1"), 754_903_683);
        // One server takes everything; no server, nothing.
        assert_eq!(chash_pick(&[(7, 1)], 12345), Some(0));
        assert_eq!(chash_pick(&[], 12345), None);
        // Removing a server moves only the keys it held.
        let three = [(11, 1), (22, 1), (33, 1)];
        let two = [(11, 1), (33, 1)];
        let mut moved = 0;
        for k in 0..2000 {
            let h = uri_hash(&format!("/stream/track-{k}.m3u8"));
            let a = chash_pick(&three, h).unwrap();
            let b = chash_pick(&two, h).unwrap();
            let (a_id, b_id) = (three[a].0, two[b].0);
            if a_id != 22 {
                assert_eq!(a_id, b_id, "key {k} moved from {a_id} to {b_id}");
            } else {
                moved += 1;
            }
        }
        assert!(
            (400..=1000).contains(&moved),
            "{moved} keys on the removed server"
        );
    }
}
