#!/usr/bin/env bash
# What deploy/ ships, checked the way an operator's machine would:
#  1. systemd-analyze verify accepts the three units (with ExecStart
#     pointed at this build's binaries, since nothing is installed here),
#     and their exposure (systemd-analyze security) stays at most 1.5;
#  2. cpack builds the .deb, and it holds the binaries and their manual
#     pages, units, sysusers and tmpfiles snippets, the conffile, the
#     copyright, changelog and maintainer scripts in their FHS places, with
#     the shared-library dependencies dpkg-shlibdeps found;
#  3. each manual page names every flag its program has;
#  4. the maintainer scripts, run against stand-ins for deb-systemd-helper,
#     systemctl and the rest, enable and start nothing on a fresh install,
#     keep the enabled units' links and restart the running ones on an
#     upgrade, stop the units on remove and forget them on purge.
# Usage: deploy/test-deploy.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The units.
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP units: systemd-analyze is not installed (Debian package systemd)"
else
  for unit in curator-daemon curator-worker curator-ingester; do
    sed -e "s|/usr/bin/curator-daemon|$build/daemon/curator-daemon|" \
        -e "s|/usr/bin/curator-worker|$build/worker/curator-worker|" \
        -e "s|/usr/bin/curator-ingester|$build/ingester/curator-ingester|" \
        "$src/deploy/systemd/$unit.service" > "$work/$unit.service"
    for key in Type=notify WatchdogSec= Restart=on-failure User=curator ProtectSystem=strict \
               ProtectHome=yes NoNewPrivileges=yes PrivateTmp=yes \
               SystemCallFilter=@system-service SystemCallArchitectures=native \
               MemoryDenyWriteExecute=yes ProtectProc=invisible; do
      grep -q "^$key" "$work/$unit.service" || fail "$unit.service has no $key"
    done
    # Exposure on systemd's scale of 0 to 10, in tenths: 1.5.
    out=$(systemd-analyze security --offline=true --threshold=15 "$work/$unit.service" 2>&1) ||
      fail "$unit.service is exposed more than 1.5: $out"
    echo "units: $(echo "$out" | grep 'Overall exposure')"
  done
  if ! out=$(systemd-analyze verify "$work"/*.service 2>&1) || [ -n "$out" ]; then
    fail "systemd-analyze verify: $out"
  fi
  echo "units: systemd-analyze verify accepts curator-daemon, curator-worker, curator-ingester"
fi

# 2. The package.
(cd "$build" && cpack -G DEB -B "$work/package" >"$work/cpack.log" 2>&1) ||
  fail "cpack: $(cat "$work/cpack.log")"
deb=$(ls "$work"/package/curator_*_amd64.deb)
dpkg-deb -c "$deb" | awk '{print $6}' > "$work/contents"
for path in ./usr/bin/curator-daemon ./usr/bin/curator-worker ./usr/bin/curator-ingester \
            ./usr/bin/curatorctl ./usr/bin/curator-synth \
            ./usr/lib/systemd/system/curator-daemon.service \
            ./usr/lib/systemd/system/curator-worker.service \
            ./usr/lib/systemd/system/curator-ingester.service \
            ./usr/lib/sysusers.d/curator.conf ./usr/lib/tmpfiles.d/curator.conf \
            ./etc/curator/curator.conf ./usr/share/doc/curator/README.md \
            ./usr/share/doc/curator/copyright ./usr/share/doc/curator/changelog.gz \
            ./usr/lib/python3/dist-packages/curator_client.py; do
  grep -qx "$path" "$work/contents" || fail "the package has no $path"
done
programs="curator-daemon curator-worker curator-ingester curatorctl curator-synth"
for program in $programs; do
  grep -qx "./usr/share/man/man1/$program.1.gz" "$work/contents" ||
    fail "the package has no manual page for $program"
done
dpkg-deb -I "$deb" > "$work/info"
grep -q '^ Depends:.*libgrpc++' "$work/info" || fail "no shared-library dependencies: $(cat "$work/info")"
grep -q '^ Depends:.*libsystemd0' "$work/info" || fail "libsystemd0 is not a dependency"
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/curator/curator.conf "$work/control/conffiles" || fail "curator.conf is not a conffile"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "no $script"
done
grep -q '^ Depends:.*python3' "$work/info" || fail "python3 (for curator_client) is not a dependency"
# The packaged binaries run (stripped, from the package's own tree).
dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/bin/curatorctl" describe --json | grep -q '"commands"' ||
  fail "the packaged curatorctl does not run"
echo "package: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB, $(grep -c . "$work/contents") entries"

# 3. Every flag of a program (absl's own aside) in its manual page.
for program in $programs; do
  page=$(gzip -dc "$work/root/usr/share/man/man1/$program.1.gz")
  # (--helpfull exits 1.)
  flags=$({ "$work/root/usr/bin/$program" --helpfull 2>&1 || true; } |
          awk '/^  Flags from / { ours = ($0 !~ /absl\//) } ours && /^    --/ { sub(/^    --/, ""); print $1 }')
  [ -n "$flags" ] || fail "$program --helpfull lists no flags"
  for flag in $flags; do
    grep -qF -- "\\-\\-$flag" <<<"$page" || fail "the manual page of $program does not name --$flag"
  done
done
echo "manual pages: each names every flag of its program"

# 4. The maintainer scripts, with the systemd tools replaced by stand-ins
# that log their arguments, and /run/systemd/system by a directory here
# (systemd "running").
mkdir -p "$work/stubs" "$work/run-systemd"
for tool in deb-systemd-helper deb-systemd-invoke systemctl systemd-sysusers systemd-tmpfiles \
            chgrp chmod adduser getent; do
  cat >"$work/stubs/$tool" <<STUB
#!/bin/sh
echo "$tool \$*" >>"$work/calls"
case "$tool \$*" in
  "deb-systemd-helper debian-installed "*) [ -n "\${INSTALLED:-}" ] ;;
  "deb-systemd-helper --quiet was-enabled "*) case " \${ENABLED:-} " in *" \$3 "*) ;; *) exit 1 ;; esac ;;
esac
STUB
  chmod +x "$work/stubs/$tool"
done
for script in postinst prerm postrm; do
  sed "s|/run/systemd/system|$work/run-systemd|" "$work/control/$script" >"$work/$script"
done
run() {  # run SCRIPT ARGS...: the calls it made, one a line
  : >"$work/calls"
  PATH="$work/stubs:$PATH" sh "$work/$1" "${@:2}" || fail "$1 $* failed"
  cat "$work/calls"
}
units="curator-daemon.service curator-ingester.service curator-worker.service"
calls=$(run postinst configure)
grep -q '^systemd-sysusers curator.conf$' <<<"$calls" || fail "a fresh install makes no user: $calls"
grep -q '^systemd-tmpfiles --create curator.conf$' <<<"$calls" || fail "a fresh install makes no archive"
[ "$(grep -c '^deb-systemd-helper update-state ' <<<"$calls")" = 3 ] ||
  fail "a fresh install does not record the three units: $calls"
! grep -Eq ' (enable|start|restart|try-restart) ' <<<"$calls" ||
  fail "a fresh install enables or starts a unit: $calls"
calls=$(INSTALLED=1 ENABLED=curator-worker.service run postinst configure 0.0.9)
[ "$(grep ' enable ' <<<"$calls")" = "deb-systemd-helper enable curator-worker.service" ] ||
  fail "an upgrade does not re-enable exactly the enabled unit: $calls"
grep -qx "deb-systemd-invoke try-restart $units" <<<"$calls" ||
  fail "an upgrade does not restart the running units: $calls"
calls=$(run prerm upgrade 0.1.1)
[ -z "$calls" ] || fail "prerm stops units on an upgrade: $calls"
grep -qx "deb-systemd-invoke stop $units" <<<"$(run prerm remove)" || fail "remove does not stop the units"
grep -qx "systemctl --system daemon-reload" <<<"$(run postrm remove)" ||
  fail "remove does not reload systemd"
grep -qx "deb-systemd-helper purge $units" <<<"$(run postrm purge)" ||
  fail "purge does not forget the units"
echo "maintainer scripts: install enables nothing, upgrade restarts, remove stops, purge forgets"
