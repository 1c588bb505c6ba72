"""Awaiting results from asyncio: three slow tasks side by side, then a result group."""
import asyncio
import time

from tasks import slow

from hueyd.contrib.asyncio import aget_result, aget_result_group


async def main():
    began = time.time()
    handles = [slow(2) for _ in range(3)]
    print(await asyncio.gather(*(aget_result(h) for h in handles)))
    print(round(time.time() - began, 2))

    began = time.time()
    print(await aget_result_group(slow.map([2, 2, 2])))
    print(round(time.time() - began, 2))


if __name__ == "__main__":
    asyncio.run(main())
