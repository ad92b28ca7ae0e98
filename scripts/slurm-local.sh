#!/usr/bin/env bash
# A throwaway single-node Slurm cluster for tests and local trials (root,
# no systemd, no cgroups): munged, slurmctld and slurmd with every file
# under DIR, one node (this host) with every CPU, one partition `debug`.
#   bash scripts/slurm-local.sh start DIR    # prints nothing on success
#   bash scripts/slurm-local.sh stop DIR     # stops the daemons by pid
# Needs the Debian packages slurmctld slurmd slurm-client munge.
set -euo pipefail
cmd=${1:?usage: slurm-local.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: slurm-local.sh start|stop DIR}" && cd "$2" && pwd)

stop_pid() { # pid file, name
  [ -f "$1" ] || return 0
  local pid; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

case "$cmd" in
start)
  host=$(hostname -s)
  cpus=$(nproc)
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  chown munge:munge "$dir/munge"
  if ! setpriv --reuid=munge --regid=munge --init-groups test -w "$dir/munge"; then
    echo "slurm-local: the munge user cannot reach $dir/munge; give its parent folders o+x (mktemp -d makes them 0700)" >&2
    exit 1
  fi
  if [ ! -s /etc/munge/munge.key ]; then mungekey -c -k /etc/munge/munge.key; fi
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  # munged runs as its own user; setpriv needs no PAM configuration.
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged \
    --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
    </dev/null >/dev/null 2>&1
  cat > "$dir/slurm.conf" <<CONF
ClusterName=qarena
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CryptoType=crypto/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  # The host name need not resolve: every address is 127.0.0.1.
  /usr/sbin/slurmctld </dev/null >/dev/null 2>&1
  /usr/sbin/slurmd </dev/null >/dev/null 2>&1
  for _ in $(seq 1 200); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    case "$state" in idle*|mix*|alloc*) exit 0 ;; esac
    sleep 0.1
  done
  echo "slurm-local: the node did not become idle (sinfo: ${state:-nothing}); logs in $dir" >&2
  exit 1
  ;;
stop)
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munge/munged.pid"
  ;;
*)
  echo "usage: slurm-local.sh start|stop DIR" >&2
  exit 2
  ;;
esac
