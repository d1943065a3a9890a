/*
 * script.c - the Lua scripts that run inside Redis, and how they are sent
 *
 * The decision script is cl_algo_decide() (lib/algorithm.c) in Lua, run
 * atomically by Redis on one customer's hash.  Redis runs Lua 5.1, whose
 * numbers are IEEE doubles: integers are exact only below 2^53, while
 * nanosecond times reach 2^64 and a window length 3.2 * 10^16.  So times,
 * window starts and waits are decimal strings in the arguments, the hash
 * and the reply, and big integers of base-10^7 limbs inside the script.
 * Counts (below 2^32), costs (clamped below 2^41 by the caller: any cost
 * above R + C gives the same answer) and window indexes (below 2^45,
 * since windows are at least 1 ms) stay plain numbers.  Division is a
 * double estimate corrected with exact limb products.  The differential
 * test in tests/test_redis.c compares it with the C algorithm.
 *
 * Arguments: KEYS[1] the customer's hash.  ARGV[1] is the mode: "d"
 * decide, "l" lease, "s" set credits, "r" reset or "p" peek.  Then come now
 * (decimal ns, or "" for Redis TIME), policy id, R, W (decimal ns), C, I,
 * the cost (or the credits for "s"), and "1" to set the expiry or "0" to
 * keep the key without one.  A lease adds the units wanted n, the units refunded r, and
 * the window index and window length (decimal ns) they were charged in.
 *
 * Replies: {1, ID} when the key's policy is ID and not the one passed (the
 * caller sends the request again under ID).  {2} for a reset of a missing
 * key, and for a lease that only returns units (n = 0, cost 0) on a key
 * without state.  {3} for credits above C, {0} after a reset.  Else {0,
 * verdict, credits, used, reset_after, retry_after, new, credits spent,
 * window index}, to which a lease appends the units granted, the time used
 * (decimal ns) and the units of the refund accepted.
 *
 * Leases.  A lease refunds first, then grants min(max(n, cost), T) units
 * of the T = (R - u) + c left, base first, when the cost fits; else it
 * grants nothing and reports the cost's verdict as a decision would.  A
 * refund of units charged in the current window undoes the charge:
 * credits first, then base, so T grows by r up to R + C.  Units charged
 * in the window before the last roll would have become credits at that
 * roll: min(C, x + r) = min(C, x) + min(r, hr), where x is the sum the
 * roll capped at C.  So each storing roll records hw (the old window
 * index), hn (its window length) and hr = max(0, C - x), and refunds of
 * window hw together add at most hr credits.  A change of window length
 * records hr = 0 and hn = the new length, with or without a roll.
 * Refunds of older windows, of another window length, or on a state that
 * was not stored (new, reset or expired) are not accepted.  Peeks store
 * nothing, and a reset deletes hw, hr and hn with the state.
 *
 * Scripts are sent by SHA1 with EVALSHA.  A server that does not know the
 * script (restarted, failed over, SCRIPT FLUSH) replies NOSCRIPT, and the
 * call is sent again with EVAL, which also caches the script there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/redis.h"

static const char decide_script[] =
	"-- Exact integer arithmetic: Lua numbers are doubles (53 bits), nanosecond\n"
	"-- times reach 2^64.  Large values are arrays of base-10^7 limbs, least\n"
	"-- significant first.  Counts (below 2^33) and window indexes (below 2^45)\n"
	"-- stay plain numbers.\n"
	"local B = 10000000\n"
	"local function norm(a)\n"
	"  while #a > 1 and a[#a] == 0 do a[#a] = nil end\n"
	"  return a\n"
	"end\n"
	"local function big(s)\n"
	"  local t, n = {}, #s\n"
	"  while n > 0 do\n"
	"    local a = n - 6\n"
	"    if a < 1 then a = 1 end\n"
	"    t[#t + 1] = tonumber(string.sub(s, a, n))\n"
	"    n = a - 1\n"
	"  end\n"
	"  return norm(t)\n"
	"end\n"
	"local function str(a)\n"
	"  local s = string.format('%d', a[#a])\n"
	"  for i = #a - 1, 1, -1 do s = s .. string.format('%07d', a[i]) end\n"
	"  return s\n"
	"end\n"
	"-- An exact integer below 2^53 as limbs; n - r is a multiple of B, so the\n"
	"-- division is exact.\n"
	"local function limbs(n)\n"
	"  local t = {}\n"
	"  repeat\n"
	"    local r = n % B\n"
	"    t[#t + 1] = r\n"
	"    n = (n - r) / B\n"
	"  until n == 0\n"
	"  return t\n"
	"end\n"
	"local function approx(a)\n"
	"  local v = 0\n"
	"  for i = #a, 1, -1 do v = v * B + a[i] end\n"
	"  return v\n"
	"end\n"
	"local function cmp(a, b)\n"
	"  if #a ~= #b then return #a < #b and -1 or 1 end\n"
	"  for i = #a, 1, -1 do\n"
	"    if a[i] ~= b[i] then return a[i] < b[i] and -1 or 1 end\n"
	"  end\n"
	"  return 0\n"
	"end\n"
	"local function add(a, b)\n"
	"  local r, carry = {}, 0\n"
	"  for i = 1, math.max(#a, #b) do\n"
	"    local v = (a[i] or 0) + (b[i] or 0) + carry\n"
	"    if v >= B then r[i] = v - B; carry = 1 else r[i] = v; carry = 0 end\n"
	"  end\n"
	"  if carry > 0 then r[#r + 1] = carry end\n"
	"  return r\n"
	"end\n"
	"-- a - b for a >= b.\n"
	"local function sub(a, b)\n"
	"  local r, borrow = {}, 0\n"
	"  for i = 1, #a do\n"
	"    local v = a[i] - (b[i] or 0) - borrow\n"
	"    if v < 0 then r[i] = v + B; borrow = 1 else r[i] = v; borrow = 0 end\n"
	"  end\n"
	"  return norm(r)\n"
	"end\n"
	"-- a * n for an exact integer n below 2^53.  A column sums at most four\n"
	"-- products below 10^14, far below 2^53.\n"
	"local function mul(a, n)\n"
	"  local b, r = limbs(n), {}\n"
	"  for i = 1, #a + #b do r[i] = 0 end\n"
	"  for i = 1, #a do\n"
	"    for j = 1, #b do r[i + j - 1] = r[i + j - 1] + a[i] * b[j] end\n"
	"  end\n"
	"  local carry = 0\n"
	"  for i = 1, #r do\n"
	"    local v = r[i] + carry\n"
	"    local lo = v % B\n"
	"    r[i] = lo\n"
	"    carry = (v - lo) / B\n"
	"  end\n"
	"  return norm(r)\n"
	"end\n"
	"-- floor(a / d) for a quotient below 2^53: estimated in doubles, then\n"
	"-- corrected until q * d <= a < (q + 1) * d holds exactly.\n"
	"local function div(a, d)\n"
	"  local q = math.floor(approx(a) / approx(d))\n"
	"  if q < 0 then q = 0 end\n"
	"  local p = mul(d, q)\n"
	"  while cmp(p, a) > 0 do q = q - 1; p = sub(p, d) end\n"
	"  while true do\n"
	"    local n = add(p, d)\n"
	"    if cmp(n, a) > 0 then break end\n"
	"    q = q + 1\n"
	"    p = n\n"
	"  end\n"
	"  return q\n"
	"end\n"
	"local function ceil_div(n, d)\n"
	"  local r = n % d\n"
	"  return (n - r) / d + (r > 0 and 1 or 0)\n"
	"end\n"
	"local U64_MAX = big('18446744073709551615')\n"
	"local EXPIRE_MAX_MS = 4503599627370496\n"
	"\n"
	"local key, mode = KEYS[1], ARGV[1]\n"
	"local h = redis.call('HMGET', key, 'w', 'wn', 'u', 'c', 'p', 'o', 'hw', 'hr',\n"
	"                     'hn', 'n')\n"
	"local exists = h[1] or h[5] or h[6]\n"
	"\n"
	"if mode == 'r' then\n"
	"  if not exists then return {2} end\n"
	"  if h[6] then\n"
	"    redis.call('HDEL', key, 'w', 'wn', 'u', 'c', 'p', 'ls', 'hw', 'hr', 'hn',\n"
	"               'n')\n"
	"  else redis.call('DEL', key) end\n"
	"  return {0}\n"
	"end\n"
	"\n"
	"-- A lease wants n units and refunds units charged in window refund_w\n"
	"-- of length refund_wn.  A call that only returns units never creates a\n"
	"-- state.\n"
	"local n, refund, refund_w, refund_wn = 0, 0, nil, nil\n"
	"if mode == 'l' then\n"
	"  n, refund = tonumber(ARGV[10]), tonumber(ARGV[11])\n"
	"  refund_w, refund_wn = tonumber(ARGV[12]), ARGV[13]\n"
	"  if n == 0 and tonumber(ARGV[8]) == 0 and not h[2] then return {2} end\n"
	"end\n"
	"\n"
	"-- A decision or lease applies the key's assigned policy, else the one\n"
	"-- requested; a peek or a change of credits the assigned one, else the\n"
	"-- last one used.\n"
	"local pid = tonumber(ARGV[3])\n"
	"local override = h[6] and tonumber(h[6])\n"
	"local want = override\n"
	"if not want then\n"
	"  if mode == 'd' or mode == 'l' then want = pid\n"
	"  else want = h[5] and tonumber(h[5]) or 0 end\n"
	"end\n"
	"if want ~= pid then return {1, want} end\n"
	"\n"
	"local now\n"
	"if ARGV[2] == '' then\n"
	"  local t = redis.call('TIME')\n"
	"  now = big(t[1] .. string.format('%06d', tonumber(t[2])) .. '000')\n"
	"else\n"
	"  now = big(ARGV[2])\n"
	"end\n"
	"local R, Ws, W = tonumber(ARGV[4]), ARGV[5], big(ARGV[5])\n"
	"local C, I, arg = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])\n"
	"\n"
	"-- Roll the state to the window of now, as cl_algo_roll() does, and\n"
	"-- record the headroom hr of the roll for late refunds.\n"
	"local w, u, c\n"
	"local hw, hr, hn = tonumber(h[7]), tonumber(h[8]), h[9]\n"
	"if not h[2] then\n"
	"  w, u, c = div(now, W), 0, I\n"
	"else\n"
	"  w, u, c = tonumber(h[1]), tonumber(h[3]), tonumber(h[4])\n"
	"  local same = h[2] == Ws\n"
	"  if not same then\n"
	"    -- Units charged under the old window length earn no refund.\n"
	"    w = div(mul(big(h[2]), w), W)\n"
	"    hw, hr, hn = w, 0, Ws\n"
	"  end\n"
	"  if u > R then u = R end\n"
	"  if c > C then c = C end\n"
	"  local start, nw = mul(W, w), nil\n"
	"  if cmp(start, now) <= 0 and cmp(sub(now, start), W) < 0 then nw = w\n"
	"  else nw = div(now, W) end\n"
	"  if nw > w then\n"
	"    -- Exact whenever the sum is below C: then every term is below 2^33.\n"
	"    local credits = c + (R - u) + (nw - w - 1) * R\n"
	"    hw, hr, hn = w, 0, Ws\n"
	"    if same and credits < C then hr = C - credits end\n"
	"    if credits > C then credits = C end\n"
	"    c, w, u = credits, nw, 0\n"
	"  end\n"
	"end\n"
	"if hr and hr > C then hr = C end\n"
	"\n"
	"-- Take back refunded units.  Only a stored state had them charged, and\n"
	"-- only under the numbers of its last decision (n): a state clamped to\n"
	"-- other numbers no longer tells how much of a refund it may take.\n"
	"local numbers = ARGV[4] .. ' ' .. Ws .. ' ' .. ARGV[6]\n"
	"local accepted = 0\n"
	"if refund > 0 and h[2] and h[10] == numbers then\n"
	"  if refund_wn == Ws and refund_w == w then\n"
	"    -- Charged in this window: undo the charge, credits first since a\n"
	"    -- charge takes base first.  T grows by the refund, up to R + C.\n"
	"    local before = c + (R - u)\n"
	"    local a = math.min(refund, C - c)\n"
	"    c = c + a\n"
	"    u = math.max(0, u - (refund - a))\n"
	"    accepted = c + (R - u) - before\n"
	"  elseif hn and refund_wn == hn and refund_w == hw then\n"
	"    -- Charged before the last roll: those units would have become\n"
	"    -- credits, of which the cap C left room for hr.\n"
	"    local g = math.min(refund, hr)\n"
	"    local before = c\n"
	"    c = math.min(C, c + g)\n"
	"    hr = hr - g\n"
	"    accepted = c - before\n"
	"  end\n"
	"end\n"
	"\n"
	"local ws = mul(W, w)\n"
	"local eff = now\n"
	"if cmp(ws, now) > 0 then eff = ws end\n"
	"local reset = sub(add(ws, W), eff)\n"
	"local verdict, retry, spent, granted, store = 1, '0', 0, 0, true\n"
	"local base = R - u\n"
	"\n"
	"if mode == 'p' then\n"
	"  store = false\n"
	"elseif mode == 's' then\n"
	"  if arg > C then return {3} end\n"
	"  c = arg\n"
	"elseif arg > R + C then\n"
	"  -- A cost that never fits changes nothing, but a lease keeps its refund.\n"
	"  verdict, retry, store = 2, str(U64_MAX), mode == 'l'\n"
	"elseif arg <= base + c then\n"
	"  -- A decision charges its cost, a lease up to n units; base first.\n"
	"  granted = arg\n"
	"  if n > granted then granted = math.min(n, base + c) end\n"
	"  if granted <= base then\n"
	"    u = u + granted\n"
	"  else\n"
	"    spent = granted - base\n"
	"    c, u = c - spent, R\n"
	"  end\n"
	"else\n"
	"  verdict = 0\n"
	"  local have, extra = R + c + (R - u), 0\n"
	"  if arg > have then extra = ceil_div(arg - have, R) end\n"
	"  local r = add(reset, mul(W, extra))\n"
	"  if cmp(r, U64_MAX) > 0 then r = U64_MAX end\n"
	"  retry = str(r)\n"
	"end\n"
	"\n"
	"if store then\n"
	"  local fields = {'w', string.format('%.0f', w), 'wn', Ws,\n"
	"                  'u', string.format('%.0f', u), 'c', string.format('%.0f', c),\n"
	"                  'p', ARGV[3], 'ls', str(now), 'n', numbers}\n"
	"  if hw then\n"
	"    fields[15], fields[16] = 'hw', string.format('%.0f', hw)\n"
	"    fields[17], fields[18] = 'hr', string.format('%.0f', hr)\n"
	"    fields[19], fields[20] = 'hn', hn\n"
	"  end\n"
	"  redis.call('HSET', key, unpack(fields))\n"
	"  if override or ARGV[9] == '0' then\n"
	"    redis.call('PERSIST', key)\n"
	"  else\n"
	"    -- Expire at the start of the first window in which the rolled state\n"
	"    -- has u = 0 and c = C: the state of a new customer when I = C.\n"
	"    local need, m = C - c - (R - u), 1\n"
	"    if need > 0 then m = 1 + ceil_div(need, R) end\n"
	"    local at, ms = mul(W, w + m), 1\n"
	"    if cmp(at, now) > 0 then\n"
	"      ms = math.floor(approx(sub(at, now)) / 1000000) + 1\n"
	"    end\n"
	"    if ms > EXPIRE_MAX_MS then ms = EXPIRE_MAX_MS end\n"
	"    redis.call('PEXPIRE', key, string.format('%.0f', ms))\n"
	"  end\n"
	"end\n"
	"\n"
	"local reply = {0, verdict, c, u, str(reset), retry, exists and 0 or 1, spent,\n"
	"               string.format('%.0f', w)}\n"
	"if mode == 'l' then\n"
	"  reply[10], reply[11], reply[12] = granted, str(now), accepted\n"
	"end\n"
	"return reply\n"
	;

/*
 * Defines or changes a policy.  KEYS[1] the policies hash; ARGV name,
 * R, W, C, I, and the number of ids.  Returns the id, or -1 when every id
 * is used.
 */
static const char define_script[] =
	"local all = redis.call('HGETALL', KEYS[1])\n"
	"local value = table.concat(ARGV, ' ', 1, 5)\n"
	"local used = {}\n"
	"for i = 1, #all, 2 do\n"
	"  used[tonumber(all[i])] = true\n"
	"  if string.match(all[i + 1], '^(%S+)') == ARGV[1] then\n"
	"    redis.call('HSET', KEYS[1], all[i], value)\n"
	"    return tonumber(all[i])\n"
	"  end\n"
	"end\n"
	"for id = 0, tonumber(ARGV[6]) - 1 do\n"
	"  if not used[id] then\n"
	"    redis.call('HSET', KEYS[1], tostring(id), value)\n"
	"    return id\n"
	"  end\n"
	"end\n"
	"return -1\n";

int cl_redis_script_load(struct cl_redis *st)
{
	const char *argv[] = { "SCRIPT", "LOAD", decide_script };
	size_t lens[] = { 6, 4, sizeof(decide_script) - 1 };
	struct cl_reply *reply;
	int nodes[1];
	int err;

	err = cl_redis_data_nodes(st, nodes, 1);
	if (err < 0)
		return err;
	if (err == 0)
		return -EIO;

	err = cl_redis_node_command(st, nodes[0], false, 3, argv, lens, &reply);
	if (err < 0)
		return err;
	if (reply->type != CL_REPLY_STRING || reply->len != 40) {
		cl_redis_log(st, CREDLIMIT_LOG_ERROR,
			     "Redis SCRIPT LOAD failed: %s",
			     reply->str != NULL ? reply->str : "no SHA1");
		cl_reply_free(reply);
		return -EPROTO;
	}
	memcpy(st->script_sha, reply->str, 41);
	cl_reply_free(reply);
	return 0;
}

int cl_redis_eval_decide(struct cl_redis *st, const char *key,
			 size_t key_len, int nargs, const char *const *args,
			 const size_t *lens, struct cl_reply **reply)
{
	const char *argv[4 + CL_REDIS_SCRIPT_ARGS_MAX];
	size_t argv_lens[4 + CL_REDIS_SCRIPT_ARGS_MAX];
	int err;

	if (nargs > CL_REDIS_SCRIPT_ARGS_MAX)
		return -EINVAL;
	argv[0] = "EVALSHA";
	argv_lens[0] = 7;
	argv[1] = st->script_sha;
	argv_lens[1] = 40;
	argv[2] = "1";
	argv_lens[2] = 1;
	argv[3] = key;
	argv_lens[3] = key_len;
	for (int i = 0; i < nargs; i++) {
		argv[4 + i] = args[i];
		argv_lens[4 + i] = lens[i];
	}

	err = cl_redis_command(st, key, key_len, 4 + nargs, argv, argv_lens,
			       reply);
	if (err < 0 || !cl_reply_is_error(*reply, "NOSCRIPT"))
		goto check;

	st->counters.noscript++;
	cl_redis_log(st, CREDLIMIT_LOG_INFO,
		     "Redis had no decision script (restart, failover or "
		     "SCRIPT FLUSH): sending it with EVAL");
	cl_reply_free(*reply);
	argv[0] = "EVAL";
	argv_lens[0] = 4;
	argv[1] = decide_script;
	argv_lens[1] = sizeof(decide_script) - 1;
	err = cl_redis_command(st, key, key_len, 4 + nargs, argv, argv_lens,
			       reply);

check:
	if (err < 0)
		return err;
	if ((*reply)->type != CL_REPLY_ARRAY || (*reply)->elements == 0 ||
	    (*reply)->element[0]->type != CL_REPLY_INTEGER) {
		cl_redis_log_failure(st,
				     "Redis decision script failed: %s",
				     (*reply)->str != NULL ? (*reply)->str
							   : "unexpected reply");
		cl_reply_free(*reply);
		*reply = NULL;
		st->counters.errors++;
		return -EPROTO;
	}
	return 0;
}

int cl_redis_eval_policy_define(struct cl_redis *st, const char *name,
				const struct credlimit_policy *p)
{
	char key[CL_REDIS_PREFIX_MAX + 16];
	char numbers[5][24];
	const char *argv[10];
	size_t lens[10];
	struct cl_reply *reply;
	int err;

	snprintf(key, sizeof(key), "%spolicies", st->config.prefix);
	snprintf(numbers[0], sizeof(numbers[0]), "%" PRIu32, p->max_requests);
	snprintf(numbers[1], sizeof(numbers[1]), "%" PRIu64, p->window_ns);
	snprintf(numbers[2], sizeof(numbers[2]), "%" PRIu32, p->max_credits);
	snprintf(numbers[3], sizeof(numbers[3]), "%" PRIu32,
		 p->initial_credits);
	snprintf(numbers[4], sizeof(numbers[4]), "%d", CREDLIMIT_POLICY_MAX);

	argv[0] = "EVAL";
	argv[1] = define_script;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = name;
	for (int i = 0; i < 5; i++)
		argv[5 + i] = numbers[i];
	for (int i = 0; i < 10; i++)
		lens[i] = strlen(argv[i]);

	err = cl_redis_command(st, key, lens[3], 10, argv, lens, &reply);
	if (err < 0)
		return err;
	if (reply->type != CL_REPLY_INTEGER) {
		cl_redis_log(st, CREDLIMIT_LOG_ERROR,
			     "Redis policy definition failed: %s",
			     reply->str != NULL ? reply->str : "no id");
		err = -EPROTO;
	} else if (reply->integer < 0) {
		err = -ENOSPC;
	} else {
		err = (int)reply->integer;
	}
	cl_reply_free(reply);
	return err;
}
