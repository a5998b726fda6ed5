// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice Test-only: a contract member that relays calls for its deployer and, when paid, tries to
///         call `withdraw()` on the payer again (a reentrancy attack on the pull payment).
contract ReentrantMember {
    address public immutable controller;
    bool public armed;
    bool public reentered;
    bool public reentryOk;
    bytes public reentryError;

    constructor() {
        controller = msg.sender;
    }

    function arm() external {
        armed = true;
    }

    function exec(address to, bytes calldata data) external payable returns (bytes memory) {
        require(msg.sender == controller, "not controller");
        (bool ok, bytes memory ret) = to.call{value: msg.value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {
        if (armed) {
            armed = false;
            reentered = true;
            (bool ok, bytes memory ret) = msg.sender.call(abi.encodeWithSignature("withdraw()"));
            reentryOk = ok;
            reentryError = ret;
        }
    }
}
