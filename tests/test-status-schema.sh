#!/usr/bin/env bash
# nbdkit-fanout
# Copyright (C) 2026 the nbdkit-fanout authors
# SPDX-License-Identifier: BSD-3-Clause (the full text is in LICENSE)

# nbdkit-fanout: the status file holds to its JSON Schema
# (man/nbdkit-fanout-status.schema.json, "schema": 1) in every kind of run,
# so no field can appear, vanish or change its type without the schema
# saying so: a finished run onto two files, a failed destination
# (/dev/full: ENOSPC) and a command exiting 3, verify=true and
# verify=repair, lag= with a slow command (every snapshot recorded while
# it runs), a run interrupted by SIGTERM while a client writes (and the file
# as it was while "running"), the tee filter's tee-status=, and holes=skip
# onto a loop device (root only).  The schema itself must refuse a field
# it does not list and miss none it requires, and "version" must be the
# plugin's fanout_version=.

source ./functions.sh
if ! /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
    echo "SKIP: $0: requires python3-jsonschema (/usr/bin/python3 -c 'import jsonschema')"
    exit 77
fi
requires /usr/bin/python3 -c 'import nbd'
requires nbdcopy --version
requires nbdsh --version
requires pv --version
set -e
set -x

make_memory_tmpdir

make_random src.img 16M 13

# The man page's "The status file" shows every field of the schema, and no
# other: a field cannot be added to one without the other.
/usr/bin/python3 - "$FANOUT_STATUS_SCHEMA" "$(dirname "$FANOUT_STATUS_SCHEMA")/nbdkit-fanout-plugin.pod" <<'PYEOF'
import json, re, sys
with open(sys.argv[1]) as f:
    schema = json.load(f)
with open(sys.argv[2]) as f:
    pod = f.read()
section = pod.split("\n=head2 The status file\n", 1)[1].split("\n=head", 1)[0]
shown = set(re.findall(r'^ +\{? *"([a-z_0-9]+)":', section, re.M))
dest = schema["$defs"]["destination"]["properties"]
fields = set(schema["properties"]) | set(dest)
assert fields - shown == set(), "in the schema, not in the man page: %s" % sorted(fields - shown)
assert shown - fields == set(), "in the man page, not in the schema: %s" % sorted(shown - fields)
print("the man page shows the schema's %d fields" % len(fields))
PYEOF

# The schema refuses what it does not document: a field it does not list
# (at the top and in a destination), a required one missing, a wrong type.
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=a.img dest=b.img size=16M \
    status=finished.json --run 'nbdcopy src.img "$uri"'
cmp src.img a.img
cmp src.img b.img
validate_status_json finished.json
/usr/bin/python3 - "$FANOUT_STATUS_SCHEMA" finished.json <<'PYEOF'
import copy, json, sys, jsonschema
with open(sys.argv[1]) as f:
    v = jsonschema.Draft202012Validator(json.load(f))
with open(sys.argv[2]) as f:
    good = json.load(f)
assert good["schema"] == 1, good
v.validate(good)
def refused(change, why):
    doc = copy.deepcopy(good)
    change(doc)
    assert not v.is_valid(doc), why
refused(lambda s: s.update(new_field=1), "an unknown top-level field")
refused(lambda s: s["destinations"][0].update(new_field=1), "an unknown destination field")
refused(lambda s: s.pop("sha256"), "a missing top-level field")
refused(lambda s: s["destinations"][1].pop("holds"), "a missing destination field")
refused(lambda s: s.update(schema=2), "another schema number")
refused(lambda s: s.update(state="paused"), "an unknown run state")
refused(lambda s: s["destinations"][0].update(kind="tape"), "an unknown kind")
refused(lambda s: s["destinations"][0].update(bytes="16M"), "a string for bytes")
PYEOF
# "version" is configure.ac's, as fanout_version= says.
fanout_nbdkit "$FANOUT_PLUGIN" --dump-plugin > dump.out
grep -x "fanout_version=$PACKAGE_VERSION" dump.out
check_status_json finished.json <<PYEOF
assert s["version"] == "$PACKAGE_VERSION", s["version"]
assert s["state"] == "finished", s["state"]
PYEOF

# A failed destination (/dev/full: ENOSPC) and a failed command (exit 3).
status=0
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=c.img dest=/dev/full \
    cmd='head -c 1M > /dev/null; exit 3' size=16M status=failed.json \
    --run 'nbdcopy src.img "$uri"' 2> failed.err || status=$?
cat failed.err
test "$status" -eq 1
check_status_json failed.json <<'PYEOF'
assert d["c.img"]["state"] == "done", d["c.img"]
assert d["/dev/full"]["state"] == "failed" and d["/dev/full"]["errno"] == "ENOSPC", d["/dev/full"]
cmd = d["cmd=head -c 1M > /dev/null; exit 3"]
assert cmd["state"] == "failed" and cmd["exit_status"] == 3, cmd
PYEOF

# verify=true (snapshots of the whole run, "verifying" among them when it
# lasts long enough to be seen) and verify=repair.
start_status_recorder verify.json verify.jsonl
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=v1.img dest=v2.img size=16M \
    verify=true status=verify.json --run 'nbdcopy src.img "$uri"'
wait "$status_recorder_pid"
check_status_json verify.json <<'PYEOF'
for x in d.values():
    assert x["state"] == "verified" and x["verified_bytes"] == 16 * MiB, x
assert s["sha256"] is not None, s
PYEOF
check_snapshots verify.jsonl <<'PYEOF'
assert snaps[-1]["state"] == "finished", snaps[-1]
PYEOF
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=r1.img dest=r2.img size=16M \
    verify=repair status=repair.json --run 'nbdcopy src.img "$uri"'
check_status_json repair.json <<'PYEOF'
assert s["state"] == "finished", s["state"]
for x in d.values():
    assert x["state"] in ("verified", "repaired"), x
PYEOF

# lag=: a command reading at 8 MB/s behind two files.  Every snapshot
# recorded while it runs validates, "running" ones among them, and
# "behind" ones when one was written while it was behind (not every time:
# the file is rewritten once a second, and on a loaded machine the command
# may not fall behind at all; test-lag-slow-streams.sh is the test of
# lag= itself, and its snapshots are validated too).
start_status_recorder lag.json lag.jsonl
fanout_nbdkit -U - "$FANOUT_PLUGIN" dest=l1.img dest=l2.img \
    cmd='pv -q -L 8m > l3.img' size=16M window=2M lag=16M status=lag.json \
    --run 'nbdcopy src.img "$uri"' 2> lag.err
cat lag.err
wait "$status_recorder_pid"
cmp src.img l3.img
validate_status_json lag.jsonl
check_snapshots lag.jsonl <<'PYEOF'
assert any(x["state"] == "running" for x in snaps), "no snapshot while running"
print("snapshots with a destination behind:",
      sum(any(x["state"] == "behind" for x in snap["destinations"]) for snap in snaps))
assert snaps[-1]["state"] == "finished" and snaps[-1]["lag"] == 16 * MiB, snaps[-1]
assert dests(snaps[-1])["cmd=pv -q -L 8m > l3.img"]["state"] == "done", snaps[-1]
PYEOF

# Interrupted: SIGTERM while a slow client writes.  The file as it was
# while the client was writing ("running") validates too.
start_nbdkit -P pid -U sock "$FANOUT_PLUGIN" i1.img cmd='cat > i2.img' \
    size=16M status=interrupted.json 2> interrupted.err
slow_client sock 16 0.1 &
client=$!
# The file is rewritten at least once a second while serving.
for (( i = 0; i < 30; i++ )); do
    if cp interrupted.json running.json 2>/dev/null &&
           grep -q '"last_write": [0-9]' running.json; then
        break
    fi
    sleep 0.1
done
status=0
stop_nbdkit pid || status=$?
wait $client || true
cat interrupted.err
test "$status" -eq 1
check_status_json running.json <<'PYEOF'
assert s["state"] == "running", s["state"]
for x in d.values():
    assert x["state"] == "writing", x
PYEOF
check_status_json interrupted.json <<'PYEOF'
assert s["state"] == "interrupted" and s["interrupted"], s
for x in d.values():
    assert x["state"] == "incomplete", x
PYEOF

# The tee filter writes the same document (tee-status=).
fanout_nbdkit -U - --filter="$TEE_FILTER" memory 16M tee=t1.img \
    tee-status=tee.json --run 'nbdcopy src.img "$uri"'
cmp src.img t1.img
check_status_json tee.json <<'PYEOF'
assert s["state"] == "finished" and d["t1.img"]["state"] == "done", s
PYEOF

# holes=skip onto a loop device (root, losetup): "skipped_bytes" and
# "holds": "data-ranges".
if [ "$(id -u)" -eq 0 ] && losetup --version >/dev/null 2>&1 &&
       [ -e /dev/loop-control ]; then
    truncate -s 16M back.img
    attach_loop_device back.img
    fanout_nbdkit -U - "$FANOUT_PLUGIN" dest="$loop" size=16M holes=skip \
        status=holes.json --run 'nbdsh -u "$uri" -c "h.pwrite(b\"y\" * 1048576, 0)" \
            -c "h.zero(15 * 1048576, 1048576)" -c "h.flush()"'
    check_status_json holes.json <<'PYEOF'
assert s["holes"] == "skip", s["holes"]
x = list(d.values())[0]
assert x["kind"] == "block" and x["holds"] == "data-ranges", x
assert x["skipped_bytes"] == 15 * MiB, x
PYEOF
else
    echo "$0: holes=skip on a loop device not checked: needs root and losetup"
fi
