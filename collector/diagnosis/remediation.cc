// Remediation steps per cause: what an admin runs next, most likely first.
#include "collector/diagnosis/engine.h"

namespace parallax::collector::diagnosis {

std::vector<std::string> Remediation(v1::Cause cause) {
  switch (cause) {
    case v1::CAUSE_SSH_REFUSED:
      return {"Check that sshd runs on the host: systemctl status ssh (or sshd)",
              "Check which port it listens on: ss -tlnp | grep ssh, and Port in "
              "/etc/ssh/sshd_config",
              "Check host firewall REJECT rules: nft list ruleset, iptables -S, ufw status"};
    case v1::CAUSE_SSH_MOVED:
      return {
          "If port 22 was intended: check Port and ListenAddress in /etc/ssh/sshd_config "
          "(sshd -T | grep -i port) and restart sshd",
          "With socket activation, check ListenStream: systemctl cat ssh.socket",
          "Update firewall rules and jump-host configs that still point at the old port"};
    case v1::CAUSE_HOSTKEY_CHANGED:
      return {
          "Ask the host's admin whether it was rebuilt or its keys regenerated; compare "
          "on its console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
          "If not planned, treat it as a possible compromise: do not log in with "
          "passwords or forwarded agents until it is explained",
          "If planned: remove the old key on clients (ssh-keygen -R HOST) and re-pin "
          "(parallax hostkey accept TARGET)"};
    case v1::CAUSE_HOSTKEY_MISMATCH:
      return {"Do not log in from the networks that see the other key until it is explained",
              "Compare what the name resolves to from each network (dig +short HOST): a "
              "reused address or split DNS sends them to another host",
              "Look for an intercepting proxy or NAT rule on the path of those networks"};
    case v1::CAUSE_FIREWALL_BLOCK:
      return {
          "Check the host firewall for DROP/REJECT on the SSH port: ufw status, "
          "nft list ruleset, iptables -S",
          "Check the cloud security group or provider firewall for the SSH port",
          "From the console, confirm sshd listens: ss -tlnp | grep ssh"};
    case v1::CAUSE_HOST_OFFLINE:
      return {"Open the provider's console: is the machine powered on and booted?",
              "Check that its IP address is still assigned and its interface is up (ip addr)",
              "Check the upstream switch, router or hypervisor network"};
    case v1::CAUSE_ISP_BLOCK:
      return {"The blocked network filters outbound SSH: ask that provider or network admin",
              "Offer sshd on an additional port (e.g. 443 or 2222) and connect there",
              "Connect through another network, a VPN or a jump host"};
    case v1::CAUSE_SOURCE_BLOCK:
      return {
          "Check fail2ban on the host: fail2ban-client status sshd; unban with "
          "fail2ban-client set sshd unbanip ADDRESS",
          "Check firewall source rules, /etc/hosts.allow, and AllowUsers/AllowGroups/"
          "Match Address in sshd_config",
          "Look for the blocked sources in the sshd log: journalctl -u ssh"};
    case v1::CAUSE_SSH_UNRESPONSIVE:
      return {"Check sshd's load and MaxStartups: journalctl -u ssh | grep -i maxstartups",
              "Check for a tarpit, IPS or load balancer in front of the port: compare with "
              "ssh from the host itself",
              "Check the host's load, memory and disk (uptime, free -h, df -h)"};
    case v1::CAUSE_NOT_SSH:
      return {"Another service listens on the SSH port: ss -tlnp on the host shows which",
              "Move that service or sshd, or correct the port in Parallax's config"};
    case v1::CAUSE_DNS_ERROR:
      return {"Check the name: getent hosts NAME, dig +short NAME",
              "Check the DNS zone and the resolvers the probes use"};
    case v1::CAUSE_DNS_MISMATCH:
      return {
          "Compare what each network's resolver answers: dig +short NAME @RESOLVER (the "
          "addresses per vantage point are in parallax explain)",
          "If an old address is still served: lower the TTL, flush the stale resolver or "
          "cache, fix the split-DNS view or the zone that still has it",
          "Until then, connect to the working address directly"};
    case v1::CAUSE_PROBES_BANNED:
      return {
          "Exempt the probes on the host: parallax probes --ignoreip prints the fail2ban "
          "ignoreip line (jail.local, [DEFAULT] or [sshd]) and the sshd "
          "PerSourcePenaltyExemptList line",
          "Unban them now: fail2ban-client set sshd unbanip ADDRESS (each probe address)",
          "Or run the sshd jail in mode normal, which does not count the probes' clean "
          "disconnects (docs/OPERATIONS.md)"};
    case v1::CAUSE_PARTIAL:
      return {
          "Compare the evidence per vantage point; the summary lists the explanations "
          "that fit",
          "Add targets or probes in more networks so the causes can be told apart"};
    case v1::CAUSE_UNKNOWN:
      return {"Check that probes are connected: parallax status",
              "Check the probes' logs and their network path to the collector"};
    default:
      return {};
  }
}

}  // namespace parallax::collector::diagnosis
