/** The GatewayClass controllerName of Jarvis Stability gateways. */
export const CONTROLLER_NAME = 'stability.jarvis.io/gateway-controller';
