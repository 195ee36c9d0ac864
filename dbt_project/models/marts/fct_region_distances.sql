{#-
    One row per ordered pair of regions the sales name (the diagonal included): the
    great-circle distance in km between their approximate centroids (model
    `int_region_coordinates`; haversine on a sphere of the Earth's mean radius, 6371.0088 km).
    Null where either region has no coordinates: an unknown place is not a distance of zero.
-#}

with

regions as (

    select distinct region,
    from {{ ref('int_sale_events_windowed') }}
    where region is not null

),

coordinates as (

    select * from {{ ref('int_region_coordinates') }}

),

located as (

    select
        regions.region,
        radians(coordinates.latitude) as phi,
        radians(coordinates.longitude) as lambda,
    from regions
    left join coordinates
        on regions.region = coordinates.region

),

pairs as (

    select
        origin.region,
        destination.region as other_region,
        -- haversine term; null when either region has no coordinates
        pow(sin((destination.phi - origin.phi) / 2), 2)
            + cos(origin.phi) * cos(destination.phi) * pow(sin((destination.lambda - origin.lambda) / 2), 2)
            as haversine,
    from located as origin
    cross join located as destination

),

final as (

    select
        region,
        other_region,
        -- least() skips nulls in DuckDB: keep an unknown place null, not the antipode
        case
            when haversine is not null then 2 * 6371.0088 * asin(least(1.0, sqrt(haversine)))
        end as distance_km,
    from pairs

)

select * from final
