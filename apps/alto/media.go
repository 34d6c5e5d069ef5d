package alto

// Media types of the ALTO protocol (RFC 7285 §14.1, RFC 8189, RFC 8895, RFC 9240,
// RFC 9275), in one table.
const (
	MediaDirectory         = "application/alto-directory+json"
	MediaNetworkMap        = "application/alto-networkmap+json"
	MediaNetworkMapFilter  = "application/alto-networkmapfilter+json"
	MediaCostMap           = "application/alto-costmap+json"
	MediaCostMapFilter     = "application/alto-costmapfilter+json"
	MediaEndpointProp      = "application/alto-endpointprop+json"
	MediaEndpointPropParam = "application/alto-endpointpropparams+json"
	MediaEndpointCost      = "application/alto-endpointcost+json"
	MediaEndpointCostParam = "application/alto-endpointcostparams+json"
	MediaPropMap           = "application/alto-propmap+json"
	MediaPropMapParams     = "application/alto-propmapparams+json"
	MediaError             = "application/alto-error+json"
	MediaUpdateStreamParam = "application/alto-updatestreamparams+json"
	MediaUpdateStreamCtl   = "application/alto-updatestreamcontrol+json"
	MediaEventStream       = "text/event-stream"
	MediaMergePatch        = "application/merge-patch+json"
	// MediaPVCostMap and MediaPVEndpointCost are the multipart responses of the path
	// vector extension (RFC 9275 §7.2.1, §7.3.1); the boundary and start parameters are
	// added per response.
	MediaPVCostMap      = "multipart/related;type=" + MediaCostMap
	MediaPVEndpointCost = "multipart/related;type=" + MediaEndpointCost
	// MediaBSG is TwinFlow's media type for the bottleneck structure graph resource
	// (draft-giraltyellamraju-alto-bsg-requirements asks for the resource but
	// registers no media type).
	MediaBSG = "application/alto-bsg+json"
)
