# Every public phrasing that takes a family, in both (the dmz lab: pc on the LAN, web and
# db in the DMZ behind edge's nft ruleset, dual-stack): one row per phrasing and family.
#
#   pc ---- br-lan ---- edge (nft: LAN -> DMZ on 443 and 5432 only) ---- br-dmz ---- web, db
@lab:dmz
Feature: Public phrasings in IPv4 and IPv6
  Scenario Outline: <probe>, then <check>
    Given the lab is fully provisioned
    And web listens on tcp port 443
    And web listens on udp port 53
    When <probe>
    Then <check>

    Examples: pings
      | probe                  | check                                |
      | pc pings web           | 0% of packets are lost               |
      | pc pings web over IPv6 | 0% of packets are lost               |
      | pc pings web           | 3 packets are transmitted and 3 received |
      | pc pings web over IPv6 | 3 packets are transmitted and 3 received |
      | pc pings web           | the replies come from web            |
      | pc pings web over IPv6 | the replies come from web over IPv6  |
      | pc pings web           | the verdict was decided by "edge: accepted by forward rule" |
      | pc pings web over IPv6 | the verdict was decided by "edge: accepted by forward rule" |

    Examples: connections
      | probe                                          | check                                   |
      | pc connects to web on tcp port 443             | the connection is accepted              |
      | pc connects to web on tcp port 443 over IPv6   | the connection is accepted              |
      | pc connects to web on tcp port 22              | the connection is dropped               |
      | pc connects to web on tcp port 22 over IPv6    | the connection is dropped               |
      | pc connects to web on tcp port 443             | edge tracks the connection as ESTABLISHED |
      | pc connects to web on tcp port 443 over IPv6   | edge tracks the connection as ESTABLISHED |
      | pc connects to web on tcp port 443             | web saw a tcp connection from pc on port 443 |
      | pc connects to web on tcp port 443 over IPv6   | web saw a tcp connection from pc on port 443 over IPv6 |
      | pc connects to web on tcp port 22              | the verdict was decided by "edge: dropped by forward rule 7 (drop)" |
      | pc connects to web on tcp port 22 over IPv6    | the verdict was decided by "edge: dropped by forward rule 7 (drop)" |

    Examples: datagrams
      | probe                                        | check                      |
      | pc sends to web on udp port 53               | the datagram gets no answer |
      | pc sends to web on udp port 53 over IPv6     | the datagram gets no answer |

    Examples: routes and names
      | probe                          | check                                                  |
      | pc looks up "www.example.test" | the name resolves to the internet                      |
      | pc looks up "www.example.test" | the name resolves to the internet over IPv6            |
      | pc pings edge                  | pc's routes include "default via 10.1.0.1 dev eth0"     |
      | pc pings edge over IPv6        | pc's routes include "default via 2001:db8:1::1 dev eth0 metric 1024 pref medium" |
