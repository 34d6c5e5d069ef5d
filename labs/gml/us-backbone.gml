# A small wide-area backbone in the Internet Topology Zoo's GML dialect (written for
# TwinFlow's tour, not taken from the Zoo): six US cities, Latitude/Longitude per node,
# LinkSpeed per edge. Link latencies follow from the great-circle distances.
#   twinflow topology import -f labs/gml/us-backbone.gml
#   twinflow topology export -f labs/gml/us-backbone.gml --to clab --out us.clab.yml
graph [
  directed 0
  label "us-backbone"
  Network "US backbone (example)"
  node [ id 0 label "Seattle"     Latitude 47.6062 Longitude -122.3321 ]
  node [ id 1 label "Sunnyvale"   Latitude 37.3688 Longitude -122.0363 ]
  node [ id 2 label "Denver"      Latitude 39.7392 Longitude -104.9903 ]
  node [ id 3 label "Chicago"     Latitude 41.8781 Longitude -87.6298 ]
  node [ id 4 label "Atlanta"     Latitude 33.7490 Longitude -84.3880 ]
  node [ id 5 label "New York"    Latitude 40.7128 Longitude -74.0060 ]
  edge [ source 0 target 1 LinkLabel "SEA-SNV" LinkSpeed "100" LinkSpeedUnits "G" ]
  edge [ source 0 target 2 LinkLabel "SEA-DEN" LinkSpeed "100" LinkSpeedUnits "G" ]
  edge [ source 1 target 2 LinkLabel "SNV-DEN" LinkSpeed "100" LinkSpeedUnits "G" ]
  edge [ source 2 target 3 LinkLabel "DEN-CHI" LinkSpeed "100" LinkSpeedUnits "G" ]
  edge [ source 1 target 4 LinkLabel "SNV-ATL" LinkSpeed "40"  LinkSpeedUnits "G" ]
  edge [ source 3 target 5 LinkLabel "CHI-NYC" LinkSpeed "100" LinkSpeedUnits "G" ]
  edge [ source 4 target 5 LinkLabel "ATL-NYC" LinkSpeed "100" LinkSpeedUnits "G" ]
  edge [ source 3 target 4 LinkLabel "CHI-ATL" LinkSpeed "40"  LinkSpeedUnits "G" ]
]
