//! The store's writes, each one Lua script: Redis runs a script whole, with nothing in
//! between, so a record, the id index, the secret index and the owner index always agree,
//! and the change is published only once it is made. (`WATCH` would not do on a multiplexed
//! connection that may reconnect under it.) Key names come in as arguments, from the store's
//! prefix.
//!
//! The scripts hold no rule of what a change does to a record: an update or a rotation is
//! computed in Rust from the record as read (`TokenPatch::apply`, `Rotation::apply`), and its
//! script writes the result only if the record's version (`v`, counted up by every such
//! write) is still the one read; otherwise the store reads again and recomputes.
//!
//! The owner index: a token with an owner is a member of its owner's sorted set
//! (`<prefix>ot:<owner>`, every score 0, so that it pages by id as the id index does), and of
//! no other; a token without one is in none. [`CREATE`] adds it, [`UPDATE`] moves it when the
//! owner changes (and adds it again whatever the change, so that a write repairs an entry a
//! writer without the index left out), [`DELETE`] removes it, and [`INDEX_OWNERS`] adds the
//! tokens written before the index existed. Readers of the index still check the record's
//! owner, so an entry the record does not bear out is neither listed nor revoked. Tests, in
//! `tests/redis_owner_index.rs`: `an_update_moves_a_token_between_owners_and_a_delete_removes_it`,
//! `opening_a_store_indexes_the_owners_of_tokens_written_before_the_index`,
//! `an_index_entry_whose_record_names_another_owner_is_neither_listed_nor_revoked`.
//!
//! Errors a caller acts on are error replies whose first word names them:
//! `TOLLGATE_DUPLICATE_ID`, `TOLLGATE_DUPLICATE_SECRET`, and `TOLLGATE_CONFLICT` (handled
//! inside the store).

use std::sync::LazyLock;

use redis::Script;

/// KEYS: record, id index, current secret, previous secret (or ""), version counter, the
/// owner's index (or "" for a token without an owner). ARGV: id, channel, then the record's
/// fields and values.
pub(super) static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then
            return redis.error_reply('TOLLGATE_DUPLICATE_ID a token with this id already exists')
        end
        if redis.call('EXISTS', KEYS[3]) == 1 or (KEYS[4] ~= '' and redis.call('EXISTS', KEYS[4]) == 1) then
            return redis.error_reply('TOLLGATE_DUPLICATE_SECRET another token already uses this secret')
        end
        redis.call('HSET', KEYS[1], unpack(ARGV, 3))
        redis.call('HSET', KEYS[1], 'v', redis.call('INCR', KEYS[5]))
        redis.call('ZADD', KEYS[2], 0, ARGV[1])
        if KEYS[6] ~= '' then redis.call('ZADD', KEYS[6], 0, ARGV[1]) end
        redis.call('SET', KEYS[3], ARGV[1])
        if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return 1
        ",
    )
});

/// KEYS: record, id index, current secret, previous secret (or ""), version counter, the
/// owner's index (or ""). ARGV: id, channel, secret key prefix, owner index key prefix, then
/// the record's fields and values. [`DELETE`] then [`CREATE`] in one: the record as given
/// replaces the one with its id, if any, unless another token holds one of its secrets.
pub(super) static REPLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        for i = 3, 4 do
            if KEYS[i] ~= '' then
                local holder = redis.call('GET', KEYS[i])
                if holder and holder ~= ARGV[1] then
                    return redis.error_reply('TOLLGATE_DUPLICATE_SECRET another token already uses this secret')
                end
            end
        end
        local held = redis.call('HMGET', KEYS[1], 'hash', 'prev', 'owner')
        if redis.call('DEL', KEYS[1]) == 1 then
            for i = 1, 2 do
                if held[i] then
                    local key = ARGV[3] .. held[i]
                    if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
                end
            end
            if held[3] then redis.call('ZREM', ARGV[4] .. held[3], ARGV[1]) end
        end
        redis.call('HSET', KEYS[1], unpack(ARGV, 5))
        redis.call('HSET', KEYS[1], 'v', redis.call('INCR', KEYS[5]))
        redis.call('ZADD', KEYS[2], 0, ARGV[1])
        if KEYS[6] ~= '' then redis.call('ZADD', KEYS[6], 0, ARGV[1]) end
        redis.call('SET', KEYS[3], ARGV[1])
        if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[1]) end
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return 1
        ",
    )
});

/// KEYS: the secret's index entry. ARGV: the record key prefix. The id and the record's
/// fields, or nil.
pub(super) static FIND_BY_HASH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local id = redis.call('GET', KEYS[1])
        if not id then return false end
        return {id, redis.call('HGETALL', ARGV[1] .. id)}
        ",
    )
});

/// KEYS: the id index, or an owner's index. ARGV: the record key prefix, the id to continue
/// after (or ""), how many. Each id with its record's fields (empty if it went meanwhile).
pub(super) static PAGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local from = '-'
        if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
        local ids = redis.call('ZRANGE', KEYS[1], from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
        local page = {}
        for i, id in ipairs(ids) do
            page[i] = {id, redis.call('HGETALL', ARGV[1] .. id)}
        end
        return page
        ",
    )
});

/// ARGV: the record key prefix, then pairs of id and time (unix microseconds). A time
/// never moves back; ids without a record are skipped.
pub(super) static RECORD_USE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        for i = 2, #ARGV, 2 do
            local key = ARGV[1] .. ARGV[i]
            if redis.call('EXISTS', key) == 1 then
                local used = redis.call('HGET', key, 'used')
                if not used or tonumber(used) < tonumber(ARGV[i + 1]) then
                    redis.call('HSET', key, 'used', ARGV[i + 1])
                end
            end
        end
        return 1
        ",
    )
});

/// KEYS: record, version counter. ARGV: id, channel, the version the change was computed
/// from (`v`, "" when the record has none), the owner index key prefix, how many fields to
/// remove, their names, then fields and values to set. Moves the id from its old owner's
/// index to its new owner's. The record's fields after the write, nil for an unknown id, or
/// `TOLLGATE_CONFLICT` when another write came first (read again and recompute).
pub(super) static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return false end
        if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[3] then
            return redis.error_reply('TOLLGATE_CONFLICT the token changed since it was read')
        end
        local was = redis.call('HGET', KEYS[1], 'owner')
        local removed = tonumber(ARGV[5])
        for i = 6, 5 + removed do redis.call('HDEL', KEYS[1], ARGV[i]) end
        if #ARGV > 5 + removed then redis.call('HSET', KEYS[1], unpack(ARGV, 6 + removed)) end
        redis.call('HSET', KEYS[1], 'v', redis.call('INCR', KEYS[2]))
        local owner = redis.call('HGET', KEYS[1], 'owner')
        if was and was ~= owner then redis.call('ZREM', ARGV[4] .. was, ARGV[1]) end
        if owner then redis.call('ZADD', ARGV[4] .. owner, 0, ARGV[1]) end
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return redis.call('HGETALL', KEYS[1])
        ",
    )
});

/// KEYS: an owner's index, version counter. ARGV: the record key prefix, channel, the owner,
/// the status a revocation applies to, then the revocation's status, `revoked` ("" for none)
/// and `updated` (`Revocation`'s values), the id to continue after (or ""), how many ids to
/// read. Revokes each token read whose record has that owner and status, and publishes its
/// id as it does: a failure before the next call leaves every token revoked so far published.
/// How many ids were read, the last of them (or ""), and the ids revoked, in id order.
pub(super) static REVOKE_OWNER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local from = '-'
        if ARGV[8] ~= '' then from = '(' .. ARGV[8] end
        local ids = redis.call('ZRANGE', KEYS[1], from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[9]))
        local revoked = {}
        for _, id in ipairs(ids) do
            local key = ARGV[1] .. id
            local held = redis.call('HMGET', key, 'owner', 'status')
            if held[1] == ARGV[3] and held[2] == ARGV[4] then
                local version = redis.call('INCR', KEYS[2])
                if ARGV[6] == '' then
                    redis.call('HDEL', key, 'revoked')
                    redis.call('HSET', key, 'status', ARGV[5], 'updated', ARGV[7], 'v', version)
                else
                    redis.call('HSET', key, 'status', ARGV[5], 'revoked', ARGV[6], 'updated', ARGV[7], 'v', version)
                end
                redis.call('PUBLISH', ARGV[2], id)
                revoked[#revoked + 1] = id
            end
        end
        return {#ids, ids[#ids] or '', revoked}
        ",
    )
});

/// KEYS: an owner's settings. ARGV: their fields and values, none for empty settings. Replaces
/// them whole; empty settings delete the key.
pub(super) static OWNER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        redis.call('DEL', KEYS[1])
        if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
        return 1
        ",
    )
});

/// KEYS: record, id index. ARGV: id, channel, secret key prefix, owner index key prefix. 1
/// when it was deleted.
pub(super) static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local held = redis.call('HMGET', KEYS[1], 'hash', 'prev', 'owner')
        if redis.call('DEL', KEYS[1]) == 0 then return 0 end
        redis.call('ZREM', KEYS[2], ARGV[1])
        for i = 1, 2 do
            if held[i] then
                local key = ARGV[3] .. held[i]
                if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
            end
        end
        if held[3] then redis.call('ZREM', ARGV[4] .. held[3], ARGV[1]) end
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return 1
        ",
    )
});

/// KEYS: the id index. ARGV: the record key prefix, the owner index key prefix, the id to
/// continue after (or ""), how many. Adds each token read that has an owner to its owner's
/// index, as [`CREATE`] would have: the migration to the owner index (`schema.rs`), run in
/// batches, each whole. How many ids were read, and the last of them (or "").
pub(super) static INDEX_OWNERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local from = '-'
        if ARGV[3] ~= '' then from = '(' .. ARGV[3] end
        local ids = redis.call('ZRANGE', KEYS[1], from, '+', 'BYLEX', 'LIMIT', 0, tonumber(ARGV[4]))
        for _, id in ipairs(ids) do
            local owner = redis.call('HGET', ARGV[1] .. id, 'owner')
            if owner then redis.call('ZADD', ARGV[2] .. owner, 0, id) end
        end
        return {#ids, ids[#ids] or ''}
        ",
    )
});

/// KEYS: the store's layout version. ARGV: a version. Raises the layout version to it, never
/// lowers it (a newer replica may have raised it further meanwhile). 1.
pub(super) static RAISE_SCHEMA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
        if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
        return 1
        ",
    )
});

/// KEYS: record, version counter. ARGV: id, channel, the version the change was computed
/// from (as for [`UPDATE`]), secret key prefix, the token's current and previous hash as read
/// (the previous or ""), then its new current hash, new previous hash and its end (unix
/// microseconds; both "" for none), and `updated`. Replaces the token's secrets in its
/// record and in the secret index; the new current hash must be in use by no token (checked
/// first, as every store does). The record's fields after the write, nil, or
/// `TOLLGATE_CONFLICT` as for [`UPDATE`].
pub(super) static SECRETS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix, current, previous = ARGV[4], ARGV[7], ARGV[8]
        if redis.call('EXISTS', prefix .. current) == 1 then
            return redis.error_reply('TOLLGATE_DUPLICATE_SECRET another token already uses this secret')
        end
        if redis.call('EXISTS', KEYS[1]) == 0 then return false end
        if (redis.call('HGET', KEYS[1], 'v') or '') ~= ARGV[3] then
            return redis.error_reply('TOLLGATE_CONFLICT the token changed since it was read')
        end
        for i = 5, 6 do
            local old = ARGV[i]
            if old ~= '' and old ~= current and old ~= previous then
                if redis.call('GET', prefix .. old) == ARGV[1] then redis.call('DEL', prefix .. old) end
            end
        end
        redis.call('SET', prefix .. current, ARGV[1])
        redis.call('HSET', KEYS[1], 'hash', current, 'updated', ARGV[10])
        if previous ~= '' then
            redis.call('SET', prefix .. previous, ARGV[1])
            redis.call('HSET', KEYS[1], 'prev', previous, 'prev_until', ARGV[9])
        else
            redis.call('HDEL', KEYS[1], 'prev', 'prev_until')
        end
        redis.call('HSET', KEYS[1], 'v', redis.call('INCR', KEYS[2]))
        redis.call('PUBLISH', ARGV[2], ARGV[1])
        return redis.call('HGETALL', KEYS[1])
        ",
    )
});
