"""Which rule decided, where Docker made the rule or set the policy (pure logic over
decisions and what dockerd wrote; the real thing runs in features/docker/)."""

from __future__ import annotations

import ipaddress

from nslab.firewall.evidence import Decision, Written, attach
from nslab.managers.docker_session import dockers

DOCKER0 = ipaddress.IPv4Network("172.17.0.0/16")
ACCEPT_80 = "-d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"


def test_a_policy_dockerd_set_says_so_and_one_it_did_not_does_not() -> None:
    dropped = Decision("host", "filter", "FORWARD", None, "DROP", "", 3)
    set_by = {("host", "filter", "FORWARD policy"): [Written("", "", made_by="Docker")]}
    made = "dropped by FORWARD policy DROP (made by Docker) (+3 packets)"
    assert attach(dropped, set_by).describe() == made
    assert attach(dropped, {}).describe() == "dropped by FORWARD policy DROP (+3 packets)"


def test_a_rule_docker_made_says_so_while_its_chain_holds_only_dockers_rules() -> None:
    rule = Decision("web", "filter", "DOCKER", 1, "ACCEPT", ACCEPT_80, 1, of=1)
    made = {("web", "filter", "DOCKER"): [Written(ACCEPT_80, "", made_by="Docker")]}
    assert (
        attach(rule, made).describe()
        == f"web: accepted by DOCKER rule 1 ({ACCEPT_80}) (made by Docker) (+1 packets)"
    )
    # a rule a step added: the chain is no longer Docker's alone, and nslab does not guess
    added = Decision("web", "filter", "DOCKER", 1, "ACCEPT", ACCEPT_80, 1, of=2)
    assert "made by" not in attach(added, made).describe()


def test_dockers_rules_in_the_chains_it_shares_are_told_from_the_users() -> None:
    assert dockers("-j DOCKER-USER", DOCKER0)
    assert dockers("-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", DOCKER0)
    assert dockers("-s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE", DOCKER0)
    assert not dockers("-i br0 -o br0 -j ACCEPT", DOCKER0)
    assert not dockers("-s 10.16.0.0/24 -j MASQUERADE", DOCKER0)
    assert not dockers("-s 172.17.0.0/16 -d 10.0.0.0/8 -j ACCEPT", DOCKER0)  # one end is the user's


def test_a_rule_docker_made_on_a_ufw_host_stays_dockers() -> None:
    """ufw's evidence credits every decision of its host to ufw (nslab.managers.evidence):
    but a rule Docker made there keeps its maker."""
    from test_docker_daemon import LABS

    from nslab.lab import load_lab
    from nslab.managers.evidence import credit_all

    lab = load_lab(LABS / "docker-ufw.toml")
    docker_rule = Decision("web", "filter", "DOCKER", 1, "ACCEPT", ACCEPT_80, 1, of=1, made_by="Docker")
    ufw_policy = Decision("web", "filter", "INPUT", None, "DROP", "", 1)
    assert [d.made_by for d in credit_all(lab, [docker_rule, ufw_policy])] == ["Docker", "ufw"]
