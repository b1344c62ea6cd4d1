# A feature tagged with a lab that exists nowhere: one line naming it, no traceback.
#
#   (no lab)
@lab:nosuchlab
Feature: A lab tag naming no lab file
  Scenario: the lab is not found
    Given the lab
