#!/usr/bin/env bash
# Start (or stop) a single-node SLURM cluster on this machine for the workflow's cluster test.
# Usage: cluster.sh up STATE_DIR | cluster.sh down STATE_DIR   (run as root; Debian slurm-wlm + munge)
set -euo pipefail
action=$1
state=$(realpath -m "$2")
conf=/etc/slurm/slurm.conf

down() {
  scontrol shutdown >/dev/null 2>&1 || true
  pkill -x slurmd >/dev/null 2>&1 || true
  pkill -x slurmctld >/dev/null 2>&1 || true
  pkill -x munged >/dev/null 2>&1 || true
}

if [[ $action == down ]]; then down; exit 0; fi

down
mkdir -p "$state"/{ctld,d,log} /etc/slurm /run/munge /var/lib/munge /var/log/munge
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))

# munge: a fresh key for this machine only
if [[ ! -s /etc/munge/munge.key ]]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
if id munge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --force
else
  /usr/sbin/munged --force
fi

cat > "$conf" <<CONF
ClusterName=bergforge-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
MpiDefault=none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF

/usr/sbin/slurmctld
/usr/sbin/slurmd
for _ in $(seq 1 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm up: $(sinfo -h -o '%P %N %c %m %T')"
    exit 0
  fi
  sleep 1
done
echo "slurm did not come up; logs:" >&2
tail -n 30 "$state"/log/*.log >&2 || true
exit 1
