# A @host scenario: on the vagrant target it runs on the VM's real root namespace (the
# blog's own way), torn down before and after; elsewhere it is skipped. The VM lane
# (tests/vm/test_vm.py) runs it and checks the VM is clean afterwards.
@host
Feature: @host scenarios act on a disposable VM's real root namespace

  Scenario: the seed lab on the VM's root namespace, as the blog builds it
    Given the seed lab
    And the FORWARD policy is DROP
    And bridge traffic passes through iptables
    When red pings blue
    Then 100% of packets are lost
